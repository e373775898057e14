package dev.svcproxy.nftables;

import dev.svcproxy.model.ServicePortName;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The desired contents of one nftables table (upstream's {@code ip kube-proxy}): its fixed part
 * ({@code base}: base chains, helper chains, the shared sets and maps and their non-service
 * elements) and, per service port, what that port adds. Split this way so that a partial sync can
 * re-render and compare only the service ports that changed.
 */
public record NftRuleset(
    String family,
    String table,
    String comment,
    NftObjects base,
    SortedMap<ServicePortName, NftObjects> services) {
  public NftRuleset {
    NftText.name("table family", family);
    NftText.name("table", table);
    comment = NftText.comment("table comment", comment == null ? "" : comment);
    services = Collections.unmodifiableSortedMap(new TreeMap<>(services));
  }

  /** Everything in the table: the base followed by each service port's objects in name order. */
  public NftObjects all() {
    NftObjects all = base;
    for (NftObjects o : services.values()) {
      all = all.plus(o);
    }
    return all;
  }
}
