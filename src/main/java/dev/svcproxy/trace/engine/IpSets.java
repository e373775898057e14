package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.trace.NodeState;
import java.util.List;
import java.util.Map;

/** ipset membership for every set type kube-proxy, Calico and friends use. */
final class IpSets {
  private IpSets() {}

  /** The result of a lookup: whether an entry covers the packet, and whether it is nomatch. */
  enum Lookup {
    NONE,
    MEMBER,
    NOMATCH
  }

  /**
   * Whether the packet's fields named by {@code dirs} (src/dst per dimension) are in the set, as
   * xt_set decides: a nomatch entry is not a member (unless {@code returnNomatch}, which the
   * iptables-extensions man page documents as reversing the result for a nomatch entry and for a
   * plain one).
   */
  static boolean contains(
      NodeState.IpSet set,
      String[] dirs,
      Branch b,
      Map<String, NodeState.IpSet> all,
      boolean returnNomatch) {
    Lookup l = lookup(set, dirs, b, all);
    return returnNomatch ? l == Lookup.NOMATCH : l == Lookup.MEMBER;
  }

  static Lookup lookup(
      NodeState.IpSet set, String[] dirs, Branch b, Map<String, NodeState.IpSet> all) {
    if (set.type().startsWith("list:")) {
      // A list:set matches when any member set does.
      for (String member : set.members()) {
        NodeState.IpSet inner = all.get(IpsetCodec.parts(member).get(0));
        if (inner != null && inner != set && lookup(inner, dirs, b, all) == Lookup.MEMBER) {
          return Lookup.MEMBER;
        }
      }
      return Lookup.NONE;
    }
    // hash:net* types look the packet up from the most specific prefix down (ip_set_hash_gen.h
    // mtype_test_cidrs, outer loop on the first net's prefix): the most specific entry that
    // covers the packet decides, and a nomatch entry there means "not in the set".
    int[] best = null;
    boolean bestNomatch = false;
    for (IpsetCodec.Entry e : set.entries()) {
      List<IpsetCodec.Part> parts;
      try {
        parts = IpsetCodec.typedParts(set.type(), e.element());
      } catch (IllegalArgumentException ex) {
        continue; // BundleReader warned about the element when it read the set.
      }
      int[] spec = specificity(parts, dirs, b);
      if (spec != null && (best == null || compare(spec, best) > 0)) {
        best = spec;
        bestNomatch = e.options().stream().anyMatch(o -> o.key().equals("nomatch"));
      }
    }
    return best == null ? Lookup.NONE : bestNomatch ? Lookup.NOMATCH : Lookup.MEMBER;
  }

  private static int compare(int[] a, int[] b) {
    for (int i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] != b[i]) {
        return Integer.compare(a[i], b[i]);
      }
    }
    return 0;
  }

  /** The prefix lengths of the entry's address parts when it covers the packet, else null. */
  private static int[] specificity(List<IpsetCodec.Part> parts, String[] dirs, Branch b) {
    int[] spec = new int[parts.size()];
    for (int i = 0; i < parts.size(); i++) {
      boolean src = i < dirs.length ? dirs[i].equals("src") : dirs[dirs.length - 1].equals("src");
      String ip = src ? b.src : b.dst;
      int port = src ? b.sport : b.dport;
      boolean ok =
          switch (parts.get(i)) {
            case IpsetCodec.Net n -> {
              spec[i] = n.network().prefixLength();
              yield n.network().contains(ip);
            }
            case IpsetCodec.Range r -> {
              spec[i] = 32;
              long v = Ip.ipv4ToLong(ip);
              yield v >= r.from() && v <= r.to();
            }
            // The traced packet's ICMP type is not known, so an icmp entry never covers it.
            case IpsetCodec.Port p ->
                !p.protocol().equals("icmp")
                    && p.protocol().equals(b.proto)
                    && p.range().contains(port);
            case IpsetCodec.Iface f ->
                !f.physdev() && RuleEvaluator.iface(f.name(), src ? b.inIface : b.outIface);
            case IpsetCodec.Mark m -> m.value() == b.mark;
            case IpsetCodec.SetName s -> false;
          };
      if (!ok) {
        return null;
      }
    }
    return spec;
  }
}
