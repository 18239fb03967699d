/** The sync engine's bookkeeping in the local library's state table (engine.ts, run-planner.ts). */
/** Keys of the local state table that the sync engine owns. */
export const STATE = {
  shareId: "share_id",
  syncedVersion: "synced_version",
  lastSyncAt: "last_sync_at",
  lastError: "last_error",
  /** "1": a run had to leave a row of the share out (see applyLocally); the next run reconciles in full. */
  reconcile: "reconcile_needed",
  /** The share's commit id at syncedVersion, and version.txt's checksum then: a share that went back in time
   * and was written again up to the same version number is told apart by these (share-history.ts). */
  syncedCommit: "synced_commit",
  syncedSha: "synced_sha",
} as const;
