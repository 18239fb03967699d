/**
 * Where the engine's events go in the daemon: the SSE hub (the SPEC §6 event types only) and the JSON log.
 * The engine calls this from inside a run, so it must be quick and must never throw.
 */
import type { EntryState } from "../model/entry.js";
import type { SyncEvent, SyncEventListener } from "../sync/events.js";
import type { EventHub } from "./event-hub.js";
import type { Logger } from "./log.js";

export function syncEventSink(hub: EventHub, log: Logger): SyncEventListener {
  let phase: string | null = null;
  return (event: SyncEvent) => {
    try {
      forward(event, hub);
      logEvent(event, log, phase);
      if (event.type === "sync.progress") phase = event.phase;
      else if (event.type === "sync.started") phase = null;
    } catch (err) {
      log.error("event sink failed", { type: event.type, error: String(err) });
    }
  };
}

function forward(e: SyncEvent, hub: EventHub): void {
  switch (e.type) {
    case "sync.started":
      return hub.publish(e.type, { force: e.force });
    case "sync.progress": {
      // SPEC §6's fields, and while the run waits for the share's lock, who holds it and for how long at most.
      const { type: _type, ...progress } = e;
      return hub.publish(e.type, progress);
    }
    case "sync.completed":
      return hub.publish(e.type, { summary: e.summary });
    case "sync.failed":
      return hub.publish(e.type, { error: e.error });
    case "conflict": {
      // Metadata may be up to 1 MiB per side: events carry a digest, GET /api/v1/sync/conflicts the rest.
      const c = e.conflict;
      return hub.publish(e.type, { entryId: c.entryId, kind: c.kind, fields: c.fields, policy: e.policy, held: e.held, local: brief(c.local), remote: brief(c.remote) });
    }
    case "log":
      return; // not an SSE event type (SPEC §6); it goes to the log only
  }
}

function brief(s: EntryState): Pick<EntryState, "name" | "hash" | "size" | "deleted" | "version"> {
  return { name: s.name, hash: s.hash, size: s.size, deleted: s.deleted, version: s.version };
}

function logEvent(e: SyncEvent, log: Logger, previousPhase: string | null): void {
  switch (e.type) {
    case "sync.started":
      return log.debug("sync started", { force: e.force });
    case "sync.progress":
      if (e.phase !== previousPhase) log.debug("sync phase", { phase: e.phase, total: e.total, bytesTotal: e.bytesTotal });
      return;
    case "sync.completed":
      // A periodic run that found nothing to do is the common case: keep it out of the default log.
      return log.log(e.summary.skipped ? "debug" : "info", "sync completed", { ...e.summary });
    case "sync.failed":
      return log.log(e.error.code === "aborted" ? "warn" : "error", "sync failed", e.error);
    case "conflict":
      return log.warn("conflict", { entryId: e.conflict.entryId, kind: e.conflict.kind, fields: e.conflict.fields, policy: e.policy, held: e.held });
    case "log":
      return log.log(e.level, e.message, e.data);
  }
}
