package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.trace.NodeState;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The routing policy database of a node: ip rules by priority, longest-prefix match per table with
 * the local table included, and source-address selection as the kernel does it.
 */
final class Routing {
  /** A routing decision. {@code type} is the route type, or unreachable when nothing matched. */
  record Decision(
      String type,
      String dev,
      String gateway,
      String prefsrc,
      String table,
      NodeState.Route route) {
    boolean local() {
      return type.equals("local");
    }

    boolean usable() {
      return type.equals("unicast") || type.equals("local") || type.equals("broadcast");
    }

    String describe() {
      if (route == null) {
        return "no route (" + type + ")";
      }
      StringBuilder b = new StringBuilder();
      if (!route.type().equals("unicast")) {
        b.append(route.type()).append(' ');
      }
      b.append(route.dst().equals("0.0.0.0/0") ? "default" : route.dst());
      if (!route.gateway().isEmpty()) {
        b.append(" via ").append(route.gateway());
      }
      if (!route.dev().isEmpty()) {
        b.append(" dev ").append(route.dev());
      }
      b.append(" table ").append(route.table());
      if (!route.prefsrc().isEmpty()) {
        b.append(" src ").append(route.prefsrc());
      }
      return b.toString();
    }
  }

  /**
   * The device of the default route assumed when the input has no routes: an uplink whose name is
   * not shown (the same words as the doctor's VIP check uses for it).
   */
  static final String ASSUMED_UPLINK = "(uplink, not shown)";

  /** What a trace without the node's routes assumed, as its warnings say it. */
  static final String ASSUMED_ROUTES =
      "no routes given: assumed the connected subnets of the node's addresses and a default route"
          + " out of "
          + ASSUMED_UPLINK
          + "; whether the node routes the packet (and its reply) is not checked";

  private final NodeState node;
  private final List<NodeState.Route> routes;
  private final List<NodeState.RoutingRule> rules;

  /** The default route this routing assumed (no routes in the input), else null. */
  private final NodeState.Route assumedDefault;

  Routing(NodeState node, List<String> notes) {
    this.node = node;
    if (node.routes().isEmpty()) {
      List<NodeState.Route> r = synthesize(node, notes);
      // Without any route the node would route nothing off its subnets, and every Service packet
      // would fail with no-route: an artefact of the input, not the node (every node that forwards
      // Service traffic has a way out). Assume one, and say so.
      assumedDefault =
          new NodeState.Route("main", "unicast", "0.0.0.0/0", "", ASSUMED_UPLINK, "", 0, "global");
      r.add(assumedDefault);
      notes.add(ASSUMED_ROUTES);
      this.routes = r;
    } else {
      assumedDefault = null;
      this.routes = node.routes();
    }
    List<NodeState.RoutingRule> r = new ArrayList<>(node.rules());
    r.sort(Comparator.comparingInt(NodeState.RoutingRule::priority));
    this.rules = r;
  }

  private static List<NodeState.Route> synthesize(NodeState node, List<String> notes) {
    List<NodeState.Route> out = new ArrayList<>();
    out.add(new NodeState.Route("local", "local", "127.0.0.0/8", "", "lo", "127.0.0.1", 0, "host"));
    for (NodeState.Interface i : node.interfaces()) {
      for (NodeState.Address a : i.addresses()) {
        out.add(
            new NodeState.Route("local", "local", a.ip() + "/32", "", i.name(), a.ip(), 0, "host"));
        String net = Cidr.parse(a.ip() + "/" + a.prefixLength()).masked().toString();
        out.add(new NodeState.Route("main", "unicast", net, "", i.name(), a.ip(), 0, "link"));
      }
    }
    return out;
  }

  /** Whether {@code d} took the default route assumed for an input without routes. */
  boolean assumed(Decision d) {
    return assumedDefault != null && d.route() == assumedDefault;
  }

  /** Looks up {@code dst} for a packet from {@code src} (may be null) arriving on {@code iif}. */
  Decision lookup(String dst, String src, String iif, long mark) {
    for (NodeState.RoutingRule rule : rules) {
      if (!ruleMatches(rule, dst, src, iif, mark)) {
        continue;
      }
      if (!rule.action().isEmpty()
          && !rule.action().equals("to_tbl")
          && !rule.action().equals("lookup")) {
        return new Decision(rule.action(), "", "", "", "", null);
      }
      Optional<NodeState.Route> r = best(rule.table(), dst);
      if (r.isEmpty() || r.get().type().equals("throw")) {
        continue;
      }
      NodeState.Route route = r.get();
      return new Decision(
          route.type(), route.dev(), route.gateway(), route.prefsrc(), route.table(), route);
    }
    return new Decision("unreachable", "", "", "", "", null);
  }

  private boolean ruleMatches(
      NodeState.RoutingRule r, String dst, String src, String iif, long mark) {
    boolean m = true;
    if (!r.from().isEmpty()) {
      m = src != null && Cidr.parse(r.from()).contains(src);
    }
    if (m && !r.to().isEmpty()) {
      m = Cidr.parse(r.to()).contains(dst);
    }
    if (m && !r.iif().isEmpty()) {
      m = r.iif().equals(iif.isEmpty() ? "lo" : iif);
    }
    if (m && r.fwmark() != null) {
      long mask = r.fwmask() == null ? 0xFFFFFFFFL : r.fwmask();
      m = (mark & mask) == (r.fwmark() & mask);
    }
    return r.not() != m;
  }

  /** Longest-prefix results by table and destination: every branch of a trace asks again. */
  private final Map<String, Optional<NodeState.Route>> bestCache = new HashMap<>();

  private Optional<NodeState.Route> best(String table, String dst) {
    return bestCache.computeIfAbsent(table + " " + dst, k -> findBest(table, dst));
  }

  private Optional<NodeState.Route> findBest(String table, String dst) {
    NodeState.Route best = null;
    int bestLen = -1;
    for (NodeState.Route r : routes) {
      if (!r.table().equals(table)) {
        continue;
      }
      Cidr c = Cidr.parse(r.dst());
      if (!c.contains(dst)) {
        continue;
      }
      if (c.prefixLength() > bestLen || c.prefixLength() == bestLen && r.metric() < best.metric()) {
        best = r;
        bestLen = c.prefixLength();
      }
    }
    return Optional.ofNullable(best);
  }

  /** addrtype of an address: LOCAL, BROADCAST, MULTICAST or UNICAST, from the local table. */
  String addrType(String ip) {
    if (!Ip.isIpv4(ip)) {
      return "UNSPEC";
    }
    long v = Ip.ipv4ToLong(ip);
    if ((v >>> 28) == 0xE) {
      return "MULTICAST";
    }
    Optional<NodeState.Route> r = best("local", ip);
    if (r.isPresent()) {
      return switch (r.get().type()) {
        case "local" -> "LOCAL";
        case "broadcast" -> "BROADCAST";
        default -> "UNICAST";
      };
    }
    return ip.equals("255.255.255.255") ? "BROADCAST" : "UNICAST";
  }

  /**
   * The source the kernel picks for a packet it creates to {@code dst}: the route's src, the
   * destination itself for a local route, else a primary address of the output device, preferring
   * one on the gateway's (or destination's) subnet.
   */
  String selectSource(Decision d, String dst) {
    if (!d.prefsrc().isEmpty()) {
      return d.prefsrc();
    }
    if (d.local()) {
      return dst;
    }
    return deviceAddress(d.dev(), d.gateway().isEmpty() ? dst : d.gateway());
  }

  /** A primary address of {@code dev}, preferring one whose subnet holds {@code near}. */
  String deviceAddress(String dev, String near) {
    Optional<NodeState.Interface> i = node.iface(dev);
    if (i.isPresent()) {
      String first = null;
      for (NodeState.Address a : i.get().addresses()) {
        if (a.secondary() || a.scope().equals("host")) {
          continue;
        }
        if (first == null) {
          first = a.ip();
        }
        if (near != null && Cidr.parse(a.ip() + "/" + a.prefixLength()).contains(near)) {
          return a.ip();
        }
      }
      if (first != null) {
        return first;
      }
    }
    for (NodeState.Interface other : node.interfaces()) {
      for (NodeState.Address a : other.addresses()) {
        if (a.scope().equals("global")) {
          return a.ip();
        }
      }
    }
    return "";
  }

  /** True when {@code ip} is one of the node's addresses (local table or interface). */
  boolean isLocalAddress(String ip) {
    return addrType(ip).equals("LOCAL");
  }

  /** The interface a packet from {@code src} would be expected on: the route back to it. */
  String interfaceToward(String src) {
    Decision d = lookup(src, null, "", 0);
    return d.dev();
  }
}
