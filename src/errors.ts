/**
 * Every failure syncd reports to a user is a SyncdError: a one-sentence message, a stable machine code
 * and the process exit code of SPEC §5 (0 ok, 1 failure, 2 bad usage/config, 75 remote lock busy).
 * Anything else that escapes is a bug and is reported as such by the CLI.
 */
export class SyncdError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, options?: { exitCode?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** Bad command-line usage or an invalid configuration file: exit code 2. */
export class UsageError extends SyncdError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? "usage", message, { exitCode: 2, cause: options?.cause });
  }
}

export class ConfigError extends SyncdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("config", message, { exitCode: 2, cause: options?.cause });
  }
}

/** The remote lock stayed held by another instance for all of `lockWaitSeconds`: exit code 75 (EX_TEMPFAIL). */
export class LockBusyError extends SyncdError {
  constructor(message: string) {
    super("lock-busy", message, { exitCode: 75 });
  }
}

/** The lease was lost (heartbeat failed, or too little TTL left): the run stops before writing anything more. */
export class LeaseLostError extends SyncdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("lease-lost", message, { cause: options?.cause });
  }
}

/** Another sync of the same data directory is running in this machine (process lock). */
export class LocalLockBusyError extends SyncdError {
  constructor(message: string) {
    super("local-lock-busy", message, { exitCode: 75 });
  }
}

/** An entry id that does not exist in the local library. */
export class EntryNotFoundError extends SyncdError {
  constructor(id: string) {
    super("entry-not-found", `No entry with id ${id} in the library.`, { exitCode: 1 });
  }
}

/** A name that is not a safe relative path (SPEC §2). */
export class InvalidNameError extends SyncdError {
  constructor(message: string) {
    super("invalid-name", message, { exitCode: 2 });
  }
}

/** The share holds something syncd must not trust or overwrite: foreign, corrupt, newer schema, other share. */
export class ShareError extends SyncdError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, { exitCode: 1, cause: options?.cause });
  }
}

/** Local data failed verification (hash mismatch, corrupt store). */
export class IntegrityError extends SyncdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("integrity", message, { exitCode: 1, cause: options?.cause });
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
