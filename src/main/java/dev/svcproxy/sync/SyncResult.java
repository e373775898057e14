package dev.svcproxy.sync;

import java.util.Map;
import java.util.Optional;

/**
 * What one successful sync did, for the loop's log line and the metrics: the mode-specific figures
 * default to "not known" so that a mode reports only what it can honestly count.
 */
public interface SyncResult {
  /** Mode-specific figures ("1234 nat rules, 2 stale chains deleted"). */
  String summary();

  /**
   * Whether the sync rewrote everything (full) or only what changed; empty when the mode does not
   * say, and the loop's request stands.
   */
  default Optional<Boolean> wasFull() {
    return Optional.empty();
  }

  /**
   * The iptables rules this mode owns after the sync, by table ("filter", "nat"), as upstream's
   * kubeproxy_sync_proxy_rules_iptables_total counts them; empty when the mode does not count them.
   */
  default Map<String, Integer> iptablesRulesTotal() {
    return Map.of();
  }

  /**
   * The iptables rules the sync wrote, by table, as upstream's
   * kubeproxy_sync_proxy_rules_iptables_last counts them; empty when the mode does not count them.
   */
  default Map<String, Integer> iptablesRulesLastSync() {
    return Map.of();
  }

  /** iptables-restore runs the kernel refused during the sync (a sync may recover from some). */
  default int refusedRestores() {
    return 0;
  }

  /**
   * Stale-chain deletions the kernel refused during the sync (upstream's
   * kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total); 0 for other modes.
   */
  default int nftablesCleanupFailures() {
    return 0;
  }
}
