import type { ChildProcess } from "node:child_process";
export function lookupUser(name: string): { uid: number; gid: number };
export function serverOwner(parent: string, writable: string[]): { uid: number; gid: number } | null;
export function safeRead(path: string): string;
export function stopChild(child: ChildProcess, opts?: { graceMs?: number; group?: boolean }): Promise<void>;
