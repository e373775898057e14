package dev.svcproxy.nftables;

import java.util.ArrayList;
import java.util.List;

/**
 * A bag of table contents that belong together: the fixed part of the kube-proxy table, or what one
 * service port adds to it (its chains, affinity sets, and its elements in the shared maps).
 */
public record NftObjects(List<NftChain> chains, List<NftSet> sets, List<NftElement> elements) {
  public NftObjects {
    chains = List.copyOf(chains);
    sets = List.copyOf(sets);
    elements = List.copyOf(elements);
  }

  public static NftObjects empty() {
    return new NftObjects(List.of(), List.of(), List.of());
  }

  /** This bag's contents followed by {@code other}'s. */
  public NftObjects plus(NftObjects other) {
    List<NftChain> c = new ArrayList<>(chains);
    c.addAll(other.chains);
    List<NftSet> s = new ArrayList<>(sets);
    s.addAll(other.sets);
    List<NftElement> e = new ArrayList<>(elements);
    e.addAll(other.elements);
    return new NftObjects(c, s, e);
  }
}
