export interface LinkShape {
  /** Client → server, Mbit/s (10^6 bit/s); 0, null or Infinity: unlimited. Default 10. */
  upMbit?: number | null;
  /** Server → client, Mbit/s. Default 50. */
  downMbit?: number | null;
  /** Round-trip latency added to every exchange, ms (half each way unless the delays are given). Default 30. */
  rttMs?: number;
  upDelayMs?: number;
  downDelayMs?: number;
  /** A new connection waits one round trip (its TCP handshake) before its first byte. Default: when rttMs > 0. */
  handshake?: boolean;
  /** Token-bucket depth, bytes. Default 16 KB. */
  burstBytes?: number;
  /** Bytes held per direction before the proxy stops reading from the sender. Default 256 KB. */
  highWaterMark?: number;
}
export interface FullShape extends Required<Omit<LinkShape, "upMbit" | "downMbit">> {
  upMbit: number | null;
  downMbit: number | null;
}
export const ISSUE_LINK: Readonly<{ upMbit: number; downMbit: number; rttMs: number }>;
export const UNSHAPED: Readonly<LinkShape>;

export interface ProxyTotals {
  /** Raw bytes client → server. */
  up: number;
  /** Raw bytes server → client. */
  down: number;
  requests: number;
  connections: number;
}
export interface ProxyMark extends ProxyTotals {
  index: number;
}
export interface ProxyRecord {
  method: string;
  /** Decoded URL path. */
  path: string;
  up: number;
  down: number;
  at: number;
}
export type PathKind = "metadata" | "lock" | "data" | "root" | "other";
export interface Counted {
  requests: number;
  up: number;
  down: number;
}
export interface ProxySummary extends ProxyTotals {
  methods: Record<string, Counted>;
  /** Per kind of path, and within it per method. */
  kinds: Partial<Record<PathKind, Counted & { methods: Record<string, Counted> }>>;
}
export interface ShapingProxy {
  /** The target URL with this proxy's origin. */
  url: string;
  port: number;
  shape(): FullShape;
  setShape(shape: LinkShape): FullShape;
  totals(): ProxyTotals;
  mark(): ProxyMark;
  since(mark?: ProxyMark, base?: string | null): ProxySummary;
  records(mark?: ProxyMark): ProxyRecord[];
  close(): Promise<void>;
}
export type Async<T> = { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : T[K] };
export interface SpawnedShapingProxy extends Async<ShapingProxy> {
  pid: number | undefined;
}
export class TokenBucket {
  constructor(bytesPerMs: number, burst: number);
  reserve(n: number): number;
}
export function classify(path: string, base: string | null | undefined): PathKind;
export function startShapingProxy(opts: { target: string; records?: boolean } & LinkShape): Promise<ShapingProxy>;
export function spawnShapingProxy(opts: { target: string; records?: boolean } & LinkShape): Promise<SpawnedShapingProxy>;
