package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.TypedRule;
import dev.svcproxy.trace.NodeState;
import java.util.List;

/** ipset membership for every set type kube-proxy, Calico and friends use. */
final class IpSets {
  private IpSets() {}

  /** Whether the packet's fields named by {@code dirs} (src/dst per dimension) are in the set. */
  static boolean contains(
      NodeState.IpSet set, String[] dirs, Branch b, java.util.Map<String, NodeState.IpSet> all) {
    if (set.type().startsWith("list:")) {
      // A list:set matches when any member set does.
      for (String member : set.members()) {
        NodeState.IpSet inner = all.get(IpsetCodec.parts(member).get(0));
        if (inner != null && inner != set && contains(inner, dirs, b, all)) {
          return true;
        }
      }
      return false;
    }
    List<String> dims = IpsetCodec.dimensions(set.type());
    for (String member : set.members()) {
      if (memberMatches(member, dims, dirs, b)) {
        return true;
      }
    }
    return false;
  }

  private static boolean memberMatches(String member, List<String> dims, String[] dirs, Branch b) {
    List<String> parts = IpsetCodec.parts(member);
    if (parts.size() < dims.size()) {
      return false;
    }
    for (int i = 0; i < dims.size(); i++) {
      boolean src = i < dirs.length ? dirs[i].equals("src") : dirs[dirs.length - 1].equals("src");
      String ip = src ? b.src : b.dst;
      int port = src ? b.sport : b.dport;
      String value = parts.get(i);
      boolean ok =
          switch (dims.get(i)) {
            case "ip", "net" -> Cidr.parse(value).contains(ip);
            case "port" -> portMatches(value, port, b.proto);
            case "iface" -> RuleEvaluator.iface(value, src ? b.inIface : b.outIface);
            case "mark" -> TypedRule.u32(value) == b.mark;
            default -> false;
          };
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private static boolean portMatches(String value, int port, String proto) {
    String v = value;
    int colon = v.indexOf(':');
    if (colon >= 0) {
      String p = v.substring(0, colon);
      if (!p.equals(proto)) {
        return false;
      }
      v = v.substring(colon + 1);
    } else if (!proto.equals("tcp")) {
      return false;
    }
    int dash = v.indexOf('-');
    if (dash > 0) {
      return port >= TypedRule.port(v.substring(0, dash))
          && port <= TypedRule.port(v.substring(dash + 1));
    }
    return TypedRule.port(v) == port;
  }
}
