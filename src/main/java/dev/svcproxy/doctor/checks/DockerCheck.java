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
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Docker beside kube-proxy: its bridge-network MASQUERADE ({@code -s <docker0 subnet> ! -o docker0
 * -j MASQUERADE}) covering the pod network, as when docker0 is given the pods' range (--bip from an
 * old flannel setup): every pod packet leaving the node is masqueraded, pod-to-pod included.
 */
public final class DockerCheck implements Check {
  static final Catalogue.Entry MASQUERADES_PODS =
      new Catalogue.Entry(
          "docker-masquerade-covers-pods",
          Severity.WARNING,
          "Docker's docker0 MASQUERADE covers the pod network: pod-to-pod traffic is SNATed",
          List.of(
              "book: docker bridge network (-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j"
                  + " MASQUERADE) and cross-node containers seen from the host's address",
              "https://kubernetes.io/docs/concepts/services-networking/#the-kubernetes-network-model"));

  static final Catalogue.Entry LOCALHOST_VIA_PROXY =
      new Catalogue.Entry(
          "docker-localhost-port-via-proxy",
          Severity.INFO,
          "A docker -p port on localhost is not DNATed: only docker-proxy serves it",
          List.of(
              "book: docker-proxy (localhost traffic does not pass PREROUTING; kill -STOP"
                  + " docker-proxy and curl localhost:80 hangs while nodeIP:80 still works)"));

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(MASQUERADES_PODS, LOCALHOST_VIA_PROXY);
  }

  /** Docker's MASQUERADE for its bridge, and the bridge's subnet. */
  private record DockerMasq(String table, Rule rule, Cidr source, String bridge) {}

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>(localhostPorts(ctx));
    List<DockerMasq> masqs = dockerMasquerades(ctx.node());
    if (masqs.isEmpty()) {
      return out;
    }
    List<PodNetworkCheck.PodRange> ranges = PodNetworkCheck.podRanges(ctx);
    for (DockerMasq m : masqs) {
      List<PodNetworkCheck.PodRange> covered =
          ranges.stream().filter(r -> NodeNetwork.overlaps(r.cidr(), m.source())).toList();
      if (covered.isEmpty()) {
        continue;
      }
      List<Evidence> ev = new ArrayList<>();
      ev.add(NodeNetwork.ruleLine(ctx, m.table(), m.rule()));
      ctx.node()
          .iface(m.bridge())
          .flatMap(i -> i.addresses().stream().findFirst())
          .ifPresent(
              a ->
                  ev.add(
                      ctx.files()
                          .at(
                              ctx.files().has("ip-addr.json") ? "ip-addr.json" : "ip-addr.txt",
                              0,
                              m.bridge() + ": inet " + a.ip() + "/" + a.prefixLength())));
      covered.forEach(r -> ev.add(r.evidence()));
      // Which pod traffic the rule actually SNATs: traced from a pod of this node.
      int snated = 0;
      for (Probes.Probe p : Probes.fromPods(ctx)) {
        for (Outcome o : ctx.trace(p.packet()).outcomes()) {
          Optional<Step> s = masqueradedBy(ctx.node(), o, m);
          if (s.isPresent()) {
            snated++;
            ev.add(
                Evidence.command(
                    p.command(),
                    p.what()
                        + (o.dnat() == null || o.dnat().isEmpty() ? "" : ", DNAT to " + o.dnat())
                        + ": masqueraded by "
                        + s.get().table()
                        + " "
                        + s.get().chain()
                        + " rule "
                        + s.get().rule()
                        + ", leaves "
                        + o.outInterface()
                        + " from "
                        + o.finalSource()));
            break;
          }
        }
      }
      out.add(
          MASQUERADES_PODS.finding(
              snated > 0 ? Severity.WARNING : Severity.INFO,
              "Docker's MASQUERADE for "
                  + m.bridge()
                  + " ("
                  + m.source()
                  + ") covers the pod network "
                  + covered.get(0).cidr()
                  + (snated > 0
                      ? ": " + snated + " probed pod connection(s) leave the node SNATed"
                      : ""),
              ev,
              "Docker masquerades everything from its bridge subnet that leaves by another"
                  + " interface. With that subnet covering the pods, a pod's packets to pods and"
                  + " Service endpoints on other nodes leave with the node's address: the"
                  + " network model's pod-to-pod without NAT is broken, NetworkPolicies and"
                  + " logs on the far side see the node instead of the pod, and eTP/source-IP"
                  + " dependent behaviour changes.",
              "Give docker0 a subnet outside the pod and node networks (\"bip\" in"
                  + " /etc/docker/daemon.json, e.g. 172.17.0.1/16) and restart Docker, or stop"
                  + " Docker from masquerading (\"ip-masq\": false) when the CNI does it; then"
                  + " delete the old rule: iptables -t nat -D "
                  + m.rule().chain()
                  + " "
                  + m.rule().print().substring(("-A " + m.rule().chain() + " ").length())
                  + "."));
    }
    return out;
  }

  /**
   * Docker's bridge MASQUERADE rules: in nat POSTROUTING, {@code -s} the subnet of a local bridge
   * and {@code ! -o} that same bridge, as libnetwork writes them for each bridge network.
   */
  private static List<DockerMasq> dockerMasquerades(NodeState node) {
    List<DockerMasq> out = new ArrayList<>();
    for (String label : NodeNetwork.labels(node, "nat")) {
      for (Rule r : NodeNetwork.table(node, label).orElseThrow().rules("POSTROUTING")) {
        Optional<Arg.Param> s = r.param("-s");
        Optional<Arg.Param> o = r.param("-o");
        if (!r.target().equals("MASQUERADE")
            || s.isEmpty()
            || s.get().negated()
            || o.isEmpty()
            || !o.get().negated()) {
          continue;
        }
        String bridge = o.get().value().text();
        Cidr src;
        try {
          src = Cidr.parseSloppy(s.get().value().text());
        } catch (IllegalArgumentException e) {
          continue;
        }
        Optional<NodeState.Interface> iface = node.iface(bridge);
        if (iface.isPresent()
            && iface.get().addresses().stream().anyMatch(a -> NodeNetwork.subnet(a).equals(src))) {
          out.add(new DockerMasq(label, r, src, bridge));
        }
      }
    }
    return out;
  }

  /** The step of this path where Docker's rule masqueraded it, if it did. */
  private static Optional<Step> masqueradedBy(NodeState node, Outcome o, DockerMasq m) {
    if (!o.masquerade()) {
      return Optional.empty();
    }
    return o.steps().stream()
        .filter(s -> s.kind() == StepKind.TARGET && s.table().equals(m.table()))
        .filter(s -> NodeNetwork.rule(node, s).map(r -> r.equals(m.rule())).orElse(false))
        .findFirst();
  }

  /**
   * Docker's published ports (DNAT rules of the nat DOCKER chain, {@code ! -i docker0 ... --dport P
   * -j DNAT}) that a connection from the node to 127.0.0.1:P does not reach by NAT: Docker's OUTPUT
   * jump skips 127.0.0.0/8, so localhost is served by the userland docker-proxy alone.
   */
  private static List<Finding> localhostPorts(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    List<PodNetworkCheck.NodeSubnet> nets = PodNetworkCheck.nodeSubnets(ctx);
    Optional<String> nodeIp = nets.stream().map(n -> n.address().ip()).findFirst();
    for (String label : NodeNetwork.labels(ctx.node(), "nat")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      List<Rule> jumps =
          t.rules("OUTPUT").stream().filter(r -> r.target().equals("DOCKER")).toList();
      List<String> unseen = InputCoverage.of(ctx).unshownFrom(label, "OUTPUT");
      if (!unseen.isEmpty() && !t.rules("DOCKER").isEmpty()) {
        // "Not DNATed" from nat OUTPUT is a conclusion only where OUTPUT is shown whole.
        ctx.assume(
            label
                + " "
                + String.join(", ", unseen)
                + " not shown whole: whether Docker's published ports are DNATed for"
                + " 127.0.0.1 not checked");
        continue;
      }
      for (Rule r : t.rules("DOCKER")) {
        Optional<Arg.Param> in = r.param("-i");
        Optional<Arg.Param> proto = r.param("-p");
        Optional<Arg.Option> dport = r.option("--dport");
        Optional<Arg.Option> to = r.option("--to-destination");
        if (!r.target().equals("DNAT")
            || in.isEmpty()
            || !in.get().negated()
            || proto.isEmpty()
            || dport.isEmpty()
            || to.isEmpty()
            || !dport.get().text().matches("\\d{1,5}")) {
          continue;
        }
        int port = Integer.parseInt(dport.get().text());
        String p = proto.get().value().text();
        Outcome local =
            ctx
                .trace(new PacketSpec(null, Probes.SPORT, "127.0.0.1", port, p, null))
                .outcomes()
                .stream()
                .findFirst()
                .orElse(null);
        if (local == null
            || (local.dnat() != null && !local.dnat().isEmpty())
            || !"local".equals(local.delivery())) {
          continue;
        }
        List<Evidence> ev = new ArrayList<>();
        ev.add(NodeNetwork.ruleLine(ctx, label, r));
        jumps.forEach(j -> ev.add(NodeNetwork.ruleLine(ctx, label, j)));
        ev.add(
            Evidence.command(
                "svcproxy trace --dst 127.0.0.1:" + port + " --proto " + p,
                "from this node to 127.0.0.1:"
                    + port
                    + ": not DNATed, delivered to a local socket"));
        nodeIp.ifPresent(
            ip -> {
              for (Outcome o :
                  ctx.trace(new PacketSpec(null, Probes.SPORT, ip, port, p, null)).outcomes()) {
                if (o.dnat() != null && !o.dnat().isEmpty()) {
                  ev.add(
                      Evidence.command(
                          "svcproxy trace --dst " + ip + ":" + port + " --proto " + p,
                          "from this node to " + ip + ":" + port + ": DNAT to " + o.dnat()));
                  break;
                }
              }
            });
        out.add(
            LOCALHOST_VIA_PROXY.finding(
                "127.0.0.1:"
                    + port
                    + "/"
                    + p
                    + " reaches container "
                    + to.get().text()
                    + " only through docker-proxy; the node's addresses are DNATed by Docker's"
                    + " rule",
                ev,
                "Packets to 127.0.0.1 do not pass PREROUTING, and Docker's OUTPUT jump excludes"
                    + " 127.0.0.0/8 (a DNAT from a loopback source would be a martian without"
                    + " route_localnet), so nothing translates localhost:"
                    + port
                    + ". Docker runs a userland docker-proxy listening on the port for it: when"
                    + " that process is stopped, killed or disabled (userland-proxy false without"
                    + " Docker's hairpin rules), localhost:"
                    + port
                    + " is refused or hangs while the node's own address and remote clients"
                    + " still work.",
                "Nothing to fix while docker-proxy listens (ss -ltnp 'sport = :"
                    + port
                    + "' shows it). If localhost:"
                    + port
                    + " fails, restart the container or dockerd so docker-proxy is started"
                    + " again, or connect to the node's address instead of localhost."));
      }
    }
    return out;
  }
}
