package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Kernel settings a Service data plane needs on every node. */
public final class KernelSettingsCheck implements Check {
  static final Catalogue.Entry IP_FORWARD_OFF =
      new Catalogue.Entry(
          "ip-forward-off",
          Severity.ERROR,
          "IP forwarding is off",
          List.of(
              "https://kubernetes.io/docs/setup/production-environment/container-runtimes/#prerequisite-ipv4-forwarding-optional"));
  static final Catalogue.Entry ROUTE_LOCALNET_OFF =
      new Catalogue.Entry(
          "route-localnet-off",
          Severity.ERROR,
          "127.0.0.1:NodePort is dropped as martian (route_localnet=0)",
          List.of(
              "kubernetes/kubernetes#57922",
              "kubernetes/kubernetes#90259",
              "kubernetes/kubernetes#108250",
              "book: localhost NodePorts and route_localnet"));
  static final Catalogue.Entry BRIDGE_NF_CALL_IPTABLES_OFF =
      new Catalogue.Entry(
          "bridge-nf-call-iptables-off",
          Severity.ERROR,
          "Bridged pod traffic bypasses iptables (bridge-nf-call-iptables=0)",
          List.of(
              "kubernetes/kubernetes#38802",
              "kelseyhightower/kubernetes-the-hard-way#561",
              "https://kubernetes.io/docs/concepts/extend-kubernetes/compute-storage-net/network-plugins/"));
  static final Catalogue.Entry RP_FILTER_DROPS_ASYMMETRIC =
      new Catalogue.Entry(
          "rp-filter-drops-asymmetric",
          Severity.ERROR,
          "Strict reverse-path filtering drops packets that arrive on another interface than the"
              + " route back",
          List.of("https://docs.kernel.org/networking/ip-sysctl.html (rp_filter)"));

  private static final String BNF = "net.bridge.bridge-nf-call-iptables";

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(
        IP_FORWARD_OFF,
        ROUTE_LOCALNET_OFF,
        BRIDGE_NF_CALL_IPTABLES_OFF,
        RP_FILTER_DROPS_ASYMMETRIC);
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    ipForward(ctx).ifPresent(out::add);
    routeLocalnet(ctx).ifPresent(out::add);
    bridgeNf(ctx).ifPresent(out::add);
    rpFilter(ctx).ifPresent(out::add);
    return out;
  }

  private static Optional<Finding> ipForward(DoctorContext ctx) {
    String forward = ctx.node().sysctls().get("net.ipv4.ip_forward");
    if (forward == null) {
      ctx.assume("net.ipv4.ip_forward unknown (no sysctl.txt): assumed 1");
      return Optional.empty();
    }
    if (!forward.strip().equals("0")) {
      return Optional.empty();
    }
    Evidence e =
        ctx.files()
            .sysctl("net.ipv4.ip_forward")
            .orElse(Evidence.command("sysctl net.ipv4.ip_forward", "net.ipv4.ip_forward = 0"));
    return Optional.of(
        IP_FORWARD_OFF.finding(
            "net.ipv4.ip_forward is 0: the node does not route packets between interfaces",
            List.of(e),
            "Every Service packet the node must pass on is dropped after DNAT: pods reaching a"
                + " ClusterIP or NodePort whose endpoint is on another node, external clients"
                + " reaching a NodePort or LoadBalancer served elsewhere, and pod-to-pod traffic"
                + " through the node. Only endpoints on the node itself answer.",
            "sysctl -w net.ipv4.ip_forward=1, and persist it in /etc/sysctl.d/ (kubelet and"
                + " most CNIs expect it set at boot)."));
  }

  /**
   * kube-proxy's iptables mode accepts NodePorts on 127.0.0.1 (KUBE-SERVICES sends local
   * destinations, loopback included, to KUBE-NODEPORTS); after DNAT the packet leaves with source
   * 127.0.0.1, which the kernel drops as martian unless route_localnet is on for the output device.
   * The trace of 127.0.0.1 → 127.0.0.1:NodePort decides.
   */
  private static Optional<Finding> routeLocalnet(DoctorContext ctx) {
    NodeState node = ctx.node();
    if (node.sysctls().isEmpty()) {
      return Optional.empty(); // ip_forward already recorded what was assumed
    }
    Optional<Rule> toNodePorts =
        NodeModel.rules(node, "nat").stream()
            .filter(r -> r.chain().equals("KUBE-SERVICES") && r.target().equals("KUBE-NODEPORTS"))
            .filter(KernelSettingsCheck::acceptsLoopback)
            .findFirst();
    if (toNodePorts.isEmpty()) {
      return Optional.empty();
    }
    if (node.sysctls().get("net.ipv4.conf.all.route_localnet") == null && !ctx.files().isLive()) {
      // Pasted sysctls name only some keys: one left out is unknown, not 0.
      ctx.assume(
          "net.ipv4.conf.all.route_localnet not in the input: 127.0.0.1:NodePort not checked");
      return Optional.empty();
    }
    for (Rule np : NodeModel.rules(node, "nat")) {
      if (!np.chain().equals("KUBE-NODEPORTS")) {
        continue;
      }
      Optional<Arg.Option> dport = np.option("--dport");
      Optional<Arg.Param> proto = np.param("-p");
      if (dport.isEmpty()
          || proto.isEmpty()
          || !proto.get().value().text().equals("tcp")
          || !dport.get().text().matches("\\d{1,5}")) {
        continue;
      }
      int port = Integer.parseInt(dport.get().text());
      TraceResult t = ctx.trace(new PacketSpec("127.0.0.1", 0, "127.0.0.1", port, "tcp", null));
      Optional<Outcome> martian =
          t.outcomes().stream().filter(o -> o.reasonCode() == ReasonCode.MARTIAN).findFirst();
      if (martian.isEmpty()) {
        return Optional.empty();
      }
      String dev = martian.get().outInterface();
      List<Evidence> ev = new ArrayList<>();
      String all = "net.ipv4.conf.all.route_localnet";
      ev.add(NodeModel.sysctl(ctx.files(), all, node.sysctl(all, "0")));
      if (dev != null && !dev.isEmpty()) {
        String k = "net.ipv4.conf." + dev + ".route_localnet";
        if (node.sysctls().get(k) == null && !ctx.files().isLive()) {
          ctx.assume(k + " not in the input: assumed 0 (the kernel's default)");
        }
        ev.add(NodeModel.sysctl(ctx.files(), k, node.sysctl(k, "0")));
      }
      ev.add(NodeModel.cite(ctx.files(), toNodePorts.get()));
      ev.add(NodeModel.cite(ctx.files(), np));
      return Optional.of(
          ROUTE_LOCALNET_OFF.finding(
              "127.0.0.1:"
                  + port
                  + " (a NodePort) is DNATed"
                  + (martian.get().dnat() == null || martian.get().dnat().isEmpty()
                      ? ""
                      : " to " + martian.get().dnat())
                  + " and then dropped as martian: route_localnet is 0"
                  + (dev == null || dev.isEmpty() ? "" : " on " + dev + " and on all"),
              ev,
              "A process on the node connecting to localhost:NodePort is DNATed in nat OUTPUT to"
                  + " an endpoint, but its source stays 127.0.0.1; the re-route after OUTPUT sends"
                  + " it out a non-loopback interface, and with route_localnet=0 the kernel drops"
                  + " a loopback source leaving the host as martian. The connection times out;"
                  + " NodePorts on the node's own addresses still work.",
              "sysctl -w net.ipv4.conf.all.route_localnet=1 (kube-proxy sets it at start when"
                  + " --iptables-localhost-nodeports is true, so something reset it), or run"
                  + " kube-proxy with --iptables-localhost-nodeports=false / --nodeport-addresses"
                  + " without 127.0.0.1 and use the node's IP instead."));
    }
    return Optional.empty();
  }

  /** Whether a KUBE-SERVICES → KUBE-NODEPORTS rule takes packets to 127.0.0.1. */
  private static boolean acceptsLoopback(Rule r) {
    Optional<Arg.Param> d = r.param("-d");
    if (d.isEmpty()) {
      return true; // addrtype LOCAL: 127.0.0.1 is local
    }
    boolean inside;
    try {
      inside = Cidr.parse(d.get().value().text()).contains("127.0.0.1");
    } catch (IllegalArgumentException e) {
      return false;
    }
    return inside != d.get().negated();
  }

  /**
   * With bridge-nf-call-iptables=0, a pod's reply to another pod on the same bridge is switched at
   * layer 2 and never reaches conntrack, so a Service's DNAT is not undone on the way back.
   */
  private static Optional<Finding> bridgeNf(DoctorContext ctx) {
    NodeState node = ctx.node();
    if (node.sysctls().isEmpty()) {
      return Optional.empty();
    }
    String v = NodeModel.value(node.sysctls(), BNF);
    if (v != null && !v.equals("0")) {
      return Optional.empty();
    }
    if (v == null && !ctx.files().isLive()) {
      // A hand-written sysctl.txt may just leave it out; only a live `sysctl -a` without it
      // shows br_netfilter is not loaded.
      ctx.assume(BNF + " not in sysctl.txt: assumed 1 (br_netfilter loaded)");
      return Optional.empty();
    }
    for (NodeModel.Bridge b : NodeModel.bridges(node)) {
      if (b.ports().size() < 2) {
        continue; // no second pod to reach through the Service on the same bridge
      }
      for (NodeModel.ProxyEndpoint e : NodeModel.endpoints(ctx)) {
        Optional<Cidr> sub = b.subnets().stream().filter(c -> c.contains(e.ip())).findFirst();
        if (sub.isEmpty()) {
          continue;
        }
        List<Evidence> ev = new ArrayList<>();
        ev.add(
            v == null
                ? ctx.files()
                    .at(
                        "sysctl.txt",
                        0,
                        BNF
                            + " absent: br_netfilter is not loaded (bridged traffic skips iptables)")
                : NodeModel.sysctl(ctx.files(), BNF, v));
        ev.add(
            ctx.files()
                .at(
                    NodeModel.addrFile(ctx.files()),
                    0,
                    b.name() + " " + b.address() + ": bridge of " + String.join(", ", b.ports())));
        ev.add(e.evidence());
        return Optional.of(
            BRIDGE_NF_CALL_IPTABLES_OFF.finding(
                "Pods on "
                    + b.name()
                    + " reaching a Service endpoint on the same bridge ("
                    + e.ip()
                    + ") get replies that are not un-NATed: "
                    + (v == null ? "br_netfilter is not loaded" : BNF + " is 0"),
                ev,
                "A pod's request to a ClusterIP is routed through the node and DNATed to "
                    + e.ip()
                    + "; the endpoint answers the client pod directly across "
                    + b.name()
                    + ", a bridged packet that iptables and conntrack never see, so its source is"
                    + " not rewritten back to the VIP. The client drops (or resets) a reply from an"
                    + " address it never talked to: pod → Service → pod on the same node hangs,"
                    + " a classic for DNS when CoreDNS runs on the client's node.",
                "modprobe br_netfilter; sysctl -w "
                    + BNF
                    + "=1, and persist both (/etc/modules-load.d/, /etc/sysctl.d/)."));
      }
    }
    return Optional.empty();
  }

  /** With a packet given: the trace says whether rp_filter drops it, and the route back why. */
  private static Optional<Finding> rpFilter(DoctorContext ctx) {
    if (ctx.packet().isEmpty()) {
      return Optional.empty();
    }
    PacketSpec p = ctx.packet().get();
    if (p.src() == null || p.inIface().isEmpty()) {
      return Optional.empty();
    }
    TraceResult t = ctx.trace(p);
    if (t.outcomes().stream().noneMatch(o -> o.reasonCode() == ReasonCode.RPF)) {
      return Optional.empty();
    }
    NodeState node = ctx.node();
    List<Evidence> ev = new ArrayList<>();
    String all = "net.ipv4.conf.all.rp_filter";
    String dev = "net.ipv4.conf." + p.inIface() + ".rp_filter";
    ev.add(NodeModel.sysctl(ctx.files(), all, node.sysctl(all, "0")));
    ev.add(NodeModel.sysctl(ctx.files(), dev, node.sysctl(dev, "0")));
    NodeModel.Lookup back = NodeModel.lookup(node, p.src());
    String backText =
        back.route() == null
            ? "no route back to " + p.src()
            : "route back to " + p.src() + ": " + NodeModel.describe(back.route());
    ev.add(ctx.files().at(NodeModel.routeFile(ctx.files()), 0, backText));
    return Optional.of(
        RP_FILTER_DROPS_ASYMMETRIC.finding(
            "Packets from "
                + p.src()
                + " arriving on "
                + p.inIface()
                + " are dropped by strict rp_filter: the route back leaves by "
                + (back.route() == null ? "no interface" : back.route().dev()),
            ev,
            "With rp_filter=1 (the larger of conf.all and the interface's value) the kernel"
                + " drops a packet whose source the node would not route back out the interface it"
                + " arrived on. Asymmetric paths (multi-homed nodes, a load balancer or tunnel on a"
                + " second interface, DSR) lose every request before any rule sees it past"
                + " PREROUTING; nothing is logged unless log_martians is on.",
            "Use loose mode on that path: sysctl -w net.ipv4.conf.all.rp_filter=2 and"
                + " net.ipv4.conf."
                + p.inIface()
                + ".rp_filter=2 (or 0), or add the route back through "
                + p.inIface()
                + " (a policy-routing rule for traffic that arrived there)."));
  }
}
