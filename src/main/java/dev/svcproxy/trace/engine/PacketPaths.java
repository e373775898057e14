package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.List;

/**
 * The paths a packet takes through the stack: a packet created on the node goes OUTPUT → routing →
 * POSTROUTING (and, looped back, PREROUTING → INPUT); one that arrives goes PREROUTING → routing →
 * INPUT, or FORWARD → POSTROUTING. Each hook's participants run through the {@link HookWalker}.
 */
final class PacketPaths {
  private static final Cidr LOOPBACK = Cidr.parse("127.0.0.0/8");

  private PacketPaths() {}

  static void traceLocal(PacketSpec spec, TraceRun run, List<Branch> done) {
    Routing routing = run.routing;
    Routing.Decision d = routing.lookup(spec.dst(), spec.src(), "", 0);
    String src = spec.src() != null ? spec.src() : routing.selectSource(d, spec.dst());
    Branch b = new Branch(src, sport(spec), spec.dst(), spec.dport(), spec.proto(), "");
    if (src.isEmpty()) {
      run.warnings.add(
          "no address of this node is known (no ip-addr.json): the packet's source address is"
              + " unknown and its reply is not traced; give --src");
    }
    b.step(
        Step.note(
            StepKind.PACKET,
            "OUTPUT",
            "packet " + b.tuple() + " " + spec.proto() + " created on this node"));
    b.step(
        Step.note(
            StepKind.ROUTE,
            "routing",
            "route to "
                + spec.dst()
                + ": "
                + d.describe()
                + (spec.src() == null ? "; source address chosen: " + src : "")));
    if (!d.usable()) {
      run.end(b, Verdict.DROP, ReasonCode.NO_ROUTE, done);
      b.step(
          Step.note(
              StepKind.ROUTE,
              "routing",
              "no route to " + spec.dst() + ": the socket gets an error",
              ReasonCode.NO_ROUTE));
      return;
    }
    b.outIface = d.local() ? "lo" : d.dev();
    List<Branch> bs = run.hook(Hook.OUTPUT, List.of(b), done);
    List<Branch> routed = new ArrayList<>();
    for (Branch x : bs) {
      if (!x.dst.equals(x.origDst) || x.mark != 0) {
        Routing.Decision r = routing.lookup(x.dst, x.src, "", x.mark);
        x.step(
            Step.note(
                StepKind.ROUTE,
                "routing",
                "re-route after OUTPUT (" + x.tuple() + "): " + r.describe(),
                r.usable() ? null : ReasonCode.NO_ROUTE));
        if (!r.usable()) {
          run.end(x, Verdict.DROP, ReasonCode.NO_ROUTE, done);
          continue;
        }
        x.outIface = r.local() ? "lo" : r.dev();
      }
      if (LOOPBACK.contains(x.src) && !x.outIface.equals("lo") && !routeLocalnet(run, x.outIface)) {
        x.step(
            Step.note(
                StepKind.ROUTE,
                "routing",
                "source "
                    + x.src
                    + " is a loopback address leaving "
                    + x.outIface
                    + " with route_localnet=0: dropped as martian",
                ReasonCode.MARTIAN));
        run.end(x, Verdict.DROP, ReasonCode.MARTIAN, done);
        continue;
      }
      routed.add(x);
    }
    List<Branch> out = run.hook(Hook.POSTROUTING, routed, done);
    for (Branch x : out) {
      if (x.outIface.equals("lo")) {
        // Looped back: PREROUTING sees it again (its NAT and conntrack entry are already decided),
        // then INPUT.
        x.inIface = "lo";
        List<Branch> in = run.hook(Hook.PREROUTING, List.of(x), done);
        deliverLocally(run.hook(Hook.INPUT, in, done), run, done);
      } else {
        x.step(
            Step.note(
                StepKind.DELIVERY, "POSTROUTING", "sent out " + x.outIface + " as " + x.tuple()));
        run.deliver(x, "output", done);
      }
    }
  }

  static void traceIncoming(PacketSpec spec, TraceRun run, List<Branch> done) {
    Routing routing = run.routing;
    String in = spec.inIface();
    if (!in.isEmpty() && !run.node.interfaces().isEmpty() && run.node.iface(in).isEmpty()) {
      run.warnings.add(
          "--in-iface "
              + in
              + ": the node has no such interface (not in its addresses): traced as arriving on"
              + " it, with no address of its own");
    }
    if (in.isEmpty()) {
      in = routing.interfaceToward(spec.src());
      run.warnings.add(
          "no --in-iface: assumed the packet arrives on "
              + in
              + ", the interface the node routes "
              + spec.src()
              + " through");
    }
    Branch b = new Branch(spec.src(), sport(spec), spec.dst(), spec.dport(), spec.proto(), in);
    b.step(
        Step.note(
            StepKind.PACKET,
            "PREROUTING",
            "packet " + b.tuple() + " " + spec.proto() + " arrives on " + in));
    boolean bridged = isBridged(run, b);
    List<Branch> pre = run.hook(Hook.PREROUTING, List.of(b), done);
    for (Branch x : pre) {
      Routing.Decision d = routing.lookup(x.dst, x.src, x.inIface, x.mark);
      x.step(Step.note(StepKind.ROUTE, "routing", "route to " + x.dst + ": " + d.describe()));
      ReasonCode martian = loopbackMartian(run, x);
      if (martian != null) {
        run.end(x, Verdict.DROP, martian, done);
        continue;
      }
      if (!d.usable()) {
        x.step(
            Step.note(
                StepKind.ROUTE,
                "routing",
                "no route: the node answers with ICMP unreachable",
                ReasonCode.NO_ROUTE));
        run.end(x, Verdict.REJECT, ReasonCode.NO_ROUTE, done);
        continue;
      }
      if (d.local()) {
        // ip_route_input_slow validates the source of a packet to a local address too (oif 0):
        // rp_filter and martian sources apply to local delivery as to forwarding.
        ReasonCode invalid = SourceValidation.check(run, x, "");
        if (invalid != null) {
          run.end(x, Verdict.DROP, invalid, done);
          continue;
        }
        x.outIface = "";
        deliverLocally(run.hook(Hook.INPUT, List.of(x), done), run, done);
        continue;
      }
      x.outIface = d.dev();
      x.physdevBridged = bridged && d.dev().equals(x.inIface);
      if (!bridged && !x.dnatDone && isBridge(run, x.inIface) && d.dev().equals(x.inIface)) {
        x.step(
            Step.note(
                StepKind.BRIDGE,
                "bridge",
                "bridged within "
                    + x.inIface
                    + " with net.bridge.bridge-nf-call-iptables=0: iptables does not see it"));
        run.deliver(x, "forward", done);
        continue;
      }
      if (!x.physdevBridged && !run.sysctl("net.ipv4.ip_forward", "1").equals("1")) {
        x.step(
            Step.note(
                StepKind.ROUTE,
                "routing",
                "net.ipv4.ip_forward=0: not forwarded",
                ReasonCode.FORWARDING_DISABLED));
        run.end(x, Verdict.DROP, ReasonCode.FORWARDING_DISABLED, done);
        continue;
      }
      // __mkroute_input validates the source with the output device as oif, after the forwarding
      // check. A frame br_netfilter hands to iptables while bridging is not routed at all unless
      // PREROUTING changed its destination (br_nf_pre_routing_finish).
      if (!x.physdevBridged || x.dnatDone) {
        ReasonCode invalid = SourceValidation.check(run, x, d.dev());
        if (invalid != null) {
          run.end(x, Verdict.DROP, invalid, done);
          continue;
        }
      }
      List<Branch> fwd = run.hook(Hook.FORWARD, List.of(x), done);
      for (Branch y : run.hook(Hook.POSTROUTING, fwd, done)) {
        y.step(
            Step.note(
                StepKind.DELIVERY,
                "POSTROUTING",
                "forwarded out " + y.outIface + " as " + y.tuple()));
        run.deliver(y, "forward", done);
      }
    }
  }

  /**
   * A packet IPVS took at INPUT and sends to a remote real server: ip_vs_nat_send_or_cont hands it
   * to the OUTPUT hook (NF_HOOK LOCAL_OUT, then dst_output), so the OUTPUT chains and POSTROUTING
   * see it, not FORWARD. Its destination NAT was decided at PREROUTING: nat OUTPUT skips it.
   */
  static void ipvsForwarded(Branch x, TraceRun run, List<Branch> done) {
    List<Branch> out = run.hook(Hook.OUTPUT, List.of(x), done);
    for (Branch y : run.hook(Hook.POSTROUTING, out, done)) {
      y.step(
          Step.note(
              StepKind.DELIVERY,
              "POSTROUTING",
              "sent by IPVS out " + y.outIface + " as " + y.tuple()));
      run.deliver(y, "forward", done);
    }
  }

  private static void deliverLocally(List<Branch> afterInput, TraceRun run, List<Branch> done) {
    for (Branch y : afterInput) {
      y.step(
          Step.note(
              StepKind.DELIVERY,
              "INPUT",
              "delivered to a local socket on " + y.dst + Tracer.portSuffix(y.dport)));
      run.deliver(y, "local", done);
    }
  }

  private static boolean isBridged(TraceRun run, Branch b) {
    return isBridge(run, b.inIface)
        && run.sysctl("net.bridge.bridge-nf-call-iptables", "1").equals("1");
  }

  private static boolean isBridge(TraceRun run, String iface) {
    return run.node.interfaces().stream().anyMatch(i -> i.master().equals(iface));
  }

  private static int sport(PacketSpec spec) {
    return spec.sport() > 0 ? spec.sport() : (spec.proto().equals("icmp") ? 0 : 40000);
  }

  private static boolean routeLocalnet(TraceRun run, String dev) {
    return run.sysctl("net.ipv4.conf.all.route_localnet", "0").equals("1")
        || run.sysctl("net.ipv4.conf." + dev + ".route_localnet", "0").equals("1");
  }

  /**
   * A loopback destination or source arriving from outside with route_localnet=0: the kernel checks
   * this before its route lookup (martian destination / martian source); the reason, or null.
   */
  private static ReasonCode loopbackMartian(TraceRun run, Branch x) {
    if ((LOOPBACK.contains(x.dst) || LOOPBACK.contains(x.src))
        && !x.inIface.equals("lo")
        && !routeLocalnet(run, x.inIface)) {
      x.step(
          Step.note(
              StepKind.ROUTE,
              "routing",
              "martian: "
                  + (LOOPBACK.contains(x.dst) ? "destination " + x.dst : "source " + x.src)
                  + " is a loopback address arriving on "
                  + x.inIface
                  + " and route_localnet=0: dropped",
              ReasonCode.MARTIAN));
      return ReasonCode.MARTIAN;
    }
    return null;
  }
}
