package dev.svcproxy.sync;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One proxy mode's kernel writer (iptables today; nftables and IPVS next), driven by {@link
 * SyncLoop}. The loop decides when and how much to sync; the proxier knows how.
 */
public interface Proxier {
  /** The mode's name for logs ("iptables"). */
  String name();

  /**
   * Makes the kernel hold {@code state}. A full sync writes everything (and may read the kernel to
   * skip what it already holds); a partial one may write only the service ports of {@code changed}
   * (namespaced names, "ns/name") and trust its own record for the rest. A proxier that has lost
   * track of the kernel (first sync, failed sync, after {@link #cleanup()}) syncs in full whatever
   * {@code full} says. Throws {@link SyncException} when the kernel refused the sync; it then still
   * holds the previous rules.
   */
  SyncResult sync(ProxyState state, boolean full, Set<String> changed);

  /**
   * What is missing of the kernel state every sync relies on (canaries, jumps from built-in hooks),
   * each as a short description; empty when intact. Cheap: the loop calls it every sync period, and
   * anything missing makes the next sync full.
   */
  List<String> missing();

  /** Removes everything this mode installs. */
  void cleanup();

  /** Service ports left out of the kernel's rules because the kernel refused them. */
  Map<ServicePortName, Exclusion> excluded();
}
