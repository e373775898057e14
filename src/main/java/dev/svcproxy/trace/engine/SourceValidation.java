package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import java.util.Set;

/**
 * Source validation of a packet that input routing accepted, as the kernel's fib_validate_source
 * does it (net/ipv4/fib_frontend.c), for packets to a local address as well as forwarded ones.
 *
 * <p>Where the kernel calls it (net/ipv4/route.c ip_route_input_slow): after the input route
 * lookup, for a route of type local with oif 0 (the {@code local_input} path: there is no exemption
 * for local delivery), and for a forwarded packet from __mkroute_input with oif = the output
 * device, after the forwarding check (ip_forward=0 ends the packet first). A negative result drops
 * the packet: -EXDEV is reverse-path filtering (counted as TcpExt IPReversePathFilter), -EINVAL a
 * martian source.
 *
 * <p>The rule, with the kernel's names:
 *
 * <ol>
 *   <li>rpf = max(conf/all/rp_filter, conf/IN/rp_filter) (IN_DEV_RPFILTER is IN_DEV_MAXCONF);
 *       accept_local and src_valid_mark are conf/all OR conf/IN (IN_DEV_ORCONF). IPsec-protected
 *       packets (rpf forced to 0) and routing realms are not modelled.
 *   <li>Fast path when rpf = 0, unless the packet leaves by the interface it came in on with
 *       send_redirects on (default 1): accept_local accepts; otherwise, if the node has no custom
 *       ip rules and no user-added local routes, the packet is a martian when its source is an
 *       address of any interface of the node (inet_lookup_ifaddr_rcu), and accepted when not. With
 *       custom rules or local routes the full check below runs with rpf = 0.
 *   <li>Full check (__fib_validate_source): a route lookup for the source, from the packet's
 *       destination, as if arriving on oif (lo for local delivery), with the packet's mark only
 *       when src_valid_mark is on (mark 0 otherwise).
 *       <ul>
 *         <li>no route (or unreachable, blackhole, prohibit): dropped (rp_filter) when rpf &gt; 0,
 *             accepted when rpf = 0;
 *         <li>a route of a type other than unicast: martian source, except a local route with
 *             accept_local on (a source that is the node's own address arriving from outside);
 *         <li>the route back uses the incoming interface: accepted;
 *         <li>the incoming interface has no IPv4 address: as no route;
 *         <li>otherwise rpf = 1 (strict) drops, rpf = 2 (loose) and 0 accept.
 *       </ul>
 * </ol>
 */
final class SourceValidation {
  /** Route types the FIB returns without an error; the others make fib_lookup fail. */
  private static final Set<String> FOUND =
      Set.of("unicast", "local", "broadcast", "anycast", "multicast");

  private SourceValidation() {}

  /**
   * Validates the source of {@code x} routed toward {@code oif} ("" for local delivery); the reason
   * the kernel drops it, or null when it passes. A drop is explained in a step of {@code x}.
   */
  static ReasonCode check(TraceRun run, Branch x, String oif) {
    String in = x.inIface;
    int rpf =
        Math.max(
            run.sysctlInt("net.ipv4.conf.all.rp_filter"),
            run.sysctlInt("net.ipv4.conf." + in + ".rp_filter"));
    boolean acceptLocal = orConf(run, "accept_local", in, false);
    boolean srcValidMark = orConf(run, "src_valid_mark", in, false);
    boolean txRedirects = orConf(run, "send_redirects", in, true);
    if (rpf == 0 && !(oif.equals(in) && txRedirects)) {
      if (acceptLocal) {
        return null;
      }
      if (!hasCustomRulesOrLocalRoutes(run.node)) {
        return isInterfaceAddress(run.node, x.src) ? martianLocalSource(x) : null;
      }
    }
    long mark = srcValidMark ? x.mark : 0;
    Routing.Decision back = run.routing.lookup(x.src, x.dst, oif, mark);
    if (run.routing.assumed(back)) {
      // The route back is the default assumed for an input without routes: which interface the
      // node would really send it by is unknown, so reverse-path filtering is not judged.
      return null;
    }
    if (!FOUND.contains(back.type())) {
      return rpf > 0
          ? rpfDrop(x, rpf, "no usable route back to " + x.src + " (" + back.describe() + ")")
          : null;
    }
    if (!back.type().equals("unicast") && !(back.local() && acceptLocal)) {
      if (back.local()) {
        return martianLocalSource(x);
      }
      x.step(
          Step.note(
              StepKind.ROUTE,
              "routing",
              "martian source: the route back to " + x.src + " is " + back.describe() + ": dropped",
              ReasonCode.MARTIAN));
      return ReasonCode.MARTIAN;
    }
    if (back.dev().equals(in) || back.local() && in.equals("lo")) {
      return null;
    }
    boolean noAddress = run.node.iface(in).map(i -> i.addresses().isEmpty()).orElse(false);
    if (noAddress) {
      return rpf > 0
          ? rpfDrop(
              x,
              rpf,
              "the route back to "
                  + x.src
                  + " is "
                  + back.describe()
                  + ", not via "
                  + in
                  + ", which has no IPv4 address")
          : null;
    }
    if (rpf == 1) {
      return rpfDrop(
          x, rpf, "the route back to " + x.src + " is " + back.describe() + ", not via " + in);
    }
    return null;
  }

  private static ReasonCode rpfDrop(Branch x, int rpf, String why) {
    x.step(
        Step.note(
            StepKind.ROUTE,
            "routing",
            "rp_filter="
                + rpf
                + " (the larger of conf.all and conf."
                + x.inIface
                + "): "
                + why
                + ": dropped",
            ReasonCode.RPF));
    return ReasonCode.RPF;
  }

  private static ReasonCode martianLocalSource(Branch x) {
    x.step(
        Step.note(
            StepKind.ROUTE,
            "routing",
            "martian source: "
                + x.src
                + " is an address of this node arriving on "
                + x.inIface
                + " and accept_local=0: dropped",
            ReasonCode.MARTIAN));
    return ReasonCode.MARTIAN;
  }

  /** IN_DEV_ORCONF: on when conf.all or the interface's value is non-zero. */
  private static boolean orConf(TraceRun run, String key, String iface, boolean dflt) {
    String d = dflt ? "1" : "0";
    return !run.sysctl("net.ipv4.conf.all." + key, d).strip().equals("0")
        || !run.sysctl("net.ipv4.conf." + iface + "." + key, d).strip().equals("0");
  }

  private static boolean isInterfaceAddress(NodeState node, String ip) {
    return node.interfaces().stream()
        .flatMap(i -> i.addresses().stream())
        .anyMatch(a -> a.ip().equals(ip));
  }

  /**
   * fib4_has_custom_rules / fib_has_custom_local_routes, as far as a capture shows them: an ip rule
   * other than the three defaults, or a local route that no interface address explains (the kernel
   * adds a /32 local route per address, and the whole prefix for an address on a loopback device).
   * The kernel keeps both flags set after the rule or route is deleted; a capture cannot tell.
   */
  static boolean hasCustomRulesOrLocalRoutes(NodeState node) {
    for (NodeState.RoutingRule r : node.rules()) {
      boolean plain =
          r.from().isEmpty()
              && r.to().isEmpty()
              && r.iif().isEmpty()
              && r.oif().isEmpty()
              && r.fwmark() == null
              && !r.not()
              && (r.action().isEmpty()
                  || r.action().equals("to_tbl")
                  || r.action().equals("lookup"));
      boolean isDefault =
          plain
              && (r.priority() == 0 && r.table().equals("local")
                  || r.priority() == 32766 && r.table().equals("main")
                  || r.priority() == 32767 && r.table().equals("default"));
      if (!isDefault) {
        return true;
      }
    }
    for (NodeState.Route r : node.routes()) {
      if (r.type().equals("local") && !kernelLocalRoute(node, r)) {
        return true;
      }
    }
    return false;
  }

  private static boolean kernelLocalRoute(NodeState node, NodeState.Route r) {
    Cidr c = Cidr.parse(r.dst());
    return node.iface(r.dev()).stream()
        .flatMap(i -> i.addresses().stream())
        .anyMatch(
            a ->
                c.prefixLength() == 32 && c.address().equals(a.ip())
                    || r.dev().equals("lo")
                        && Cidr.parse(a.ip() + "/" + a.prefixLength()).masked().equals(c.masked()));
  }
}
