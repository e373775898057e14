package dev.svcproxy.sync;

/** What one successful sync did, for the loop's log line. */
public interface SyncResult {
  /** Mode-specific figures ("1234 nat rules, 2 stale chains deleted"). */
  String summary();
}
