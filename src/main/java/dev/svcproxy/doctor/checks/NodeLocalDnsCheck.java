package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * NodeLocal DNSCache's raw-table NOTRACK rules on a Service's ClusterIP (the kube-dns VIP it takes
 * over): packets that are not tracked are not NATed, so kube-proxy's DNAT never applies to them and
 * they are answered only if the address is on the node (node-local-dns's dummy interface). When the
 * cache is gone but its rules stayed, DNS to the VIP leaves the node untranslated.
 */
public final class NodeLocalDnsCheck implements Check {
  static final Catalogue.Entry NOTRACK =
      new Catalogue.Entry(
          "nodelocaldns-notrack",
          Severity.INFO,
          "NodeLocal DNSCache takes a Service's ClusterIP: NOTRACK skips kube-proxy's DNAT",
          List.of(
              "book: nodelocaldns (dummy interface, raw NOTRACK for the kube-dns ClusterIP)",
              "https://kubernetes.io/docs/tasks/administer-cluster/nodelocaldns/"));

  static final Catalogue.Entry LEFTOVER =
      new Catalogue.Entry(
          "nodelocaldns-leftover-notrack",
          Severity.ERROR,
          "NOTRACK on a Service's ClusterIP with no local address to answer it",
          List.of(
              "book: nodelocaldns (dummy interface, raw NOTRACK for the kube-dns ClusterIP)",
              "https://kubernetes.io/docs/tasks/administer-cluster/nodelocaldns/"));

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(NOTRACK, LEFTOVER);
  }

  /** A NOTRACK rule in raw PREROUTING for one destination address and port. */
  private record Untracked(String table, Rule rule, String ip, int port, String proto) {}

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Untracked> rules = untracked(ctx.node());
    if (rules.isEmpty()) {
      return List.of();
    }
    List<Cidr> pods = NodeNetwork.podSubnets(ctx);
    String src = pods.isEmpty() ? null : NodeNetwork.probeHost(pods.get(0));
    List<Finding> out = new ArrayList<>();
    Set<String> seen = new LinkedHashSet<>();
    for (Untracked u : rules) {
      Optional<String> service = serviceOf(ctx, u);
      if (service.isEmpty() || !seen.add(u.ip() + ":" + u.port() + "/" + u.proto())) {
        continue;
      }
      PacketSpec p = new PacketSpec(src, Probes.SPORT, u.ip(), u.port(), u.proto(), null);
      TraceResult r = ctx.trace(p);
      for (Outcome o : r.outcomes()) {
        Optional<Step> notrack = notrackStep(ctx.node(), o);
        if (notrack.isEmpty() || (o.dnat() != null && !o.dnat().isEmpty())) {
          continue;
        }
        String cmd =
            "svcproxy trace --src "
                + (src == null ? "(this node)" : src)
                + " --dst "
                + u.ip()
                + ":"
                + u.port()
                + " --proto "
                + u.proto();
        List<Evidence> ev = new ArrayList<>();
        ev.add(NodeNetwork.ruleLine(ctx, u.table(), u.rule()));
        Optional<String> iface = localInterface(ctx.node(), u.ip());
        if (o.delivered() && "local".equals(o.delivery()) && iface.isPresent()) {
          ev.add(addressEvidence(ctx, iface.get(), u.ip()));
          ev.add(
              Evidence.command(
                  cmd, "not tracked, not DNATed: delivered to " + u.ip() + " on this node"));
          out.add(
              NOTRACK.finding(
                  u.ip()
                      + ":"
                      + u.port()
                      + "/"
                      + u.proto()
                      + " ("
                      + service.get()
                      + ") is answered on this node by the address on "
                      + iface.get()
                      + ", not by kube-proxy's endpoints",
                  ev,
                  "NodeLocal DNSCache binds the ClusterIP on its dummy interface and marks packets"
                      + " to it NOTRACK in the raw table; untracked packets skip the nat table, so"
                      + " kube-proxy's DNAT to the Service's endpoints never applies. Queries are"
                      + " answered by the cache on this node, which forwards misses to the"
                      + " upstream Service. This is how the cache is meant to work; it fails if"
                      + " the cache stops listening while its address stays.",
                  "Nothing to fix. To send DNS back to kube-proxy's endpoints, remove the"
                      + " node-local-dns DaemonSet (its pods delete their rules and interface when"
                      + " they stop)."));
        } else if (!InputCoverage.of(ctx)
            .whole(
                NodeModel.addrFile(ctx.files()),
                "whether an interface holds " + u.ip() + " (NodeLocal DNSCache)")) {
          // Without the node's whole address list, "no interface has the address" is unknown.
          break;
        } else {
          String where =
              o.delivered()
                  ? "routed on untranslated"
                      + (o.outInterface() == null || o.outInterface().isEmpty()
                          ? ""
                          : " out " + o.outInterface())
                  : "dropped (" + o.reasonCode() + ")";
          ev.add(
              Evidence.command(
                  cmd,
                  "not tracked, not DNATed, and "
                      + u.ip()
                      + " is not an address of this node: "
                      + where));
          out.add(
              LEFTOVER.finding(
                  u.ip()
                      + ":"
                      + u.port()
                      + "/"
                      + u.proto()
                      + " ("
                      + service.get()
                      + ") is NOTRACKed in raw "
                      + u.rule().chain()
                      + " but no interface of this node has the address: queries leave"
                      + " untranslated and go unanswered",
                  ev,
                  "The NOTRACK rule (NodeLocal DNSCache's) keeps packets to the ClusterIP out of"
                      + " conntrack, so kube-proxy's DNAT in the nat table never applies; only a"
                      + " local address could answer them, and the cache's dummy interface with"
                      + " the ClusterIP is gone (its pod was killed or removed without tearing"
                      + " down). Pods' DNS queries to the Service time out.",
                  "Delete the leftover rules (iptables -t raw -D "
                      + u.rule().chain()
                      + " "
                      + u.rule().print().substring(("-A " + u.rule().chain() + " ").length())
                      + ", and the matching raw OUTPUT and filter INPUT/OUTPUT rules"
                      + " node-cache added), or bring node-local-dns back on this node so it"
                      + " owns the address again."));
        }
        break;
      }
    }
    return out;
  }

  /** Every NOTRACK rule of raw PREROUTING with one destination address and port. */
  private static List<Untracked> untracked(NodeState node) {
    List<Untracked> out = new ArrayList<>();
    for (String label : NodeNetwork.labels(node, "raw")) {
      Table t = NodeNetwork.table(node, label).orElseThrow();
      for (Rule r : t.rules("PREROUTING")) {
        if (!r.target().equals("NOTRACK")) {
          continue;
        }
        Optional<Arg.Param> d = r.param("-d");
        Optional<Arg.Param> proto = r.param("-p");
        Optional<Arg.Option> dport = r.option("--dport");
        if (d.isEmpty() || d.get().negated() || proto.isEmpty() || dport.isEmpty()) {
          continue;
        }
        String ip = d.get().value().text();
        if (ip.endsWith("/32")) {
          ip = ip.substring(0, ip.length() - 3);
        }
        if (!Ip.isIpv4(ip) || !dport.get().text().matches("\\d{1,5}")) {
          continue;
        }
        out.add(
            new Untracked(
                label, r, ip, Integer.parseInt(dport.get().text()), proto.get().value().text()));
      }
    }
    return out;
  }

  /**
   * The Service the address and port belong to: from the cluster's objects, else kube-proxy's own
   * nat rules for it (a KUBE-SERVICES rule to that address), else the service CIDRs of node.yaml.
   */
  private static Optional<String> serviceOf(DoctorContext ctx, Untracked u) {
    if (ctx.cluster().isPresent()) {
      for (ServicePortInfo sp : ctx.cluster().get().services().values()) {
        if (sp.clusterIP().equals(u.ip())
            && sp.port() == u.port()
            && sp.protocol().lower().equals(u.proto())) {
          return Optional.of("Service " + sp.name());
        }
      }
      return Optional.empty();
    }
    for (String label : NodeNetwork.labels(ctx.node(), "nat")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      for (Rule r : t.rules("KUBE-SERVICES")) {
        Optional<Arg.Param> d = r.param("-d");
        if (d.isPresent()
            && !d.get().negated()
            && d.get().value().text().replace("/32", "").equals(u.ip())) {
          return Optional.of(r.comment().map(c -> "kube-proxy: " + c).orElse("a Service"));
        }
      }
    }
    for (Cidr c : ctx.facts().serviceCidrs()) {
      if (c.contains(u.ip())) {
        return Optional.of("an address of the service CIDR " + c);
      }
    }
    return Optional.empty();
  }

  /** The raw-table step of this path whose rule is a NOTRACK. */
  private static Optional<Step> notrackStep(NodeState node, Outcome o) {
    return o.steps().stream()
        .filter(s -> s.kind() == StepKind.TARGET)
        .filter(s -> NodeNetwork.bareTable(s.table()).equals("raw"))
        .filter(s -> NodeNetwork.rule(node, s).map(r -> r.target().equals("NOTRACK")).orElse(false))
        .findFirst();
  }

  private static Optional<String> localInterface(NodeState node, String ip) {
    for (NodeState.Interface i : node.interfaces()) {
      if (i.addresses().stream().anyMatch(a -> a.ip().equals(ip))) {
        return Optional.of(i.name());
      }
    }
    return Optional.empty();
  }

  private static Evidence addressEvidence(DoctorContext ctx, String iface, String ip) {
    String file = ctx.files().has("ip-addr.json") ? "ip-addr.json" : "ip-addr.txt";
    return ctx.files().at(file, 0, iface + ": inet " + ip);
  }
}
