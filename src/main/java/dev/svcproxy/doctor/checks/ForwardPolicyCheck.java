package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * filter FORWARD with policy DROP (Docker sets it since 1.13) and no rule accepting the pods'
 * traffic: kube-proxy's KUBE-FORWARD accepts only masqueraded and established packets, so a pod's
 * new connection to a Service endpoint or a pod on another node dies at the policy.
 */
public final class ForwardPolicyCheck implements Check {
  static final Catalogue.Entry FORWARD_POLICY_DROP =
      new Catalogue.Entry(
          "forward-policy-drop",
          Severity.ERROR,
          "filter FORWARD policy DROP with nothing accepting pod and Service traffic",
          List.of(
              "book: iptables basics (-P FORWARD DROP set by applications such as Docker)",
              "https://github.com/kubernetes/kubernetes/issues/39823",
              "https://github.com/kubernetes/kubernetes/issues/40182",
              "https://github.com/moby/moby/issues/14041"));

  /** How many FORWARD rules are cited as "these were tried" at most. */
  private static final int MAX_RULES = 12;

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(FORWARD_POLICY_DROP);
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<String> dropping = new ArrayList<>();
    InputCoverage cov = InputCoverage.of(ctx);
    for (String label : NodeNetwork.labels(ctx.node(), "filter")) {
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      if (NodeNetwork.policy(t, "FORWARD").filter("DROP"::equals).isPresent()) {
        List<String> unseen = cov.unshownFrom(label, "FORWARD");
        if (!unseen.isEmpty()) {
          // A chain FORWARD jumps to that the input lacks (KUBE-FORWARD, DOCKER-USER, the CNI's)
          // may accept the pods' traffic: the policy is then never reached.
          ctx.assume(
              label
                  + " FORWARD has policy DROP, but "
                  + String.join(", ", unseen)
                  + " not shown whole: whether pod traffic reaches the policy not checked");
          continue;
        }
        dropping.add(label);
      }
    }
    if (dropping.isEmpty()) {
      return List.of();
    }
    // Which pod traffic the policy actually ends, by label: the traced probes decide, so a node
    // whose CNI accepts its pods (flannel's FLANNEL-FWD, Calico's cali-FORWARD) has no finding.
    Map<String, List<Evidence>> dropped = new LinkedHashMap<>();
    for (Probes.Probe p : Probes.fromPods(ctx)) {
      TraceResult r = ctx.trace(p.packet());
      for (Outcome o : r.outcomes()) {
        Optional<Step> s = Probes.forwardPolicyDrop(o);
        if (s.isPresent() && dropping.contains(s.get().table())) {
          dropped
              .computeIfAbsent(s.get().table(), k -> new ArrayList<>())
              .add(describe(p, o, s.get()));
          break;
        }
      }
    }
    if (dropped.isEmpty()) {
      return List.of();
    }
    List<Finding> out = new ArrayList<>();
    for (Map.Entry<String, List<Evidence>> e : dropped.entrySet()) {
      String label = e.getKey();
      List<Evidence> ev = new ArrayList<>();
      ev.add(NodeNetwork.policyLine(ctx, label, "FORWARD", "DROP"));
      Table t = NodeNetwork.table(ctx.node(), label).orElseThrow();
      List<Rule> rules = t.rules("FORWARD");
      for (Rule r : rules.subList(0, Math.min(rules.size(), MAX_RULES))) {
        ev.add(NodeNetwork.ruleLine(ctx, label, r));
      }
      ev.addAll(e.getValue());
      out.add(
          FORWARD_POLICY_DROP.finding(
              label
                  + " FORWARD has policy DROP and none of its "
                  + rules.size()
                  + " rules accepts new pod traffic: "
                  + e.getValue().size()
                  + " of the probed pod connections die at the policy",
              ev,
              "kube-proxy's KUBE-FORWARD accepts only packets marked for masquerade (0x4000) and"
                  + " established connections; a pod's new connection to a Service endpoint on"
                  + " another node, or to another node's pod, is forwarded without that mark and"
                  + " reaches the end of FORWARD, where the DROP policy (Docker sets it when it"
                  + " starts) discards it: Services time out from pods while they work from"
                  + " outside the cluster (masqueraded) and from the node itself (not forwarded).",
              fix(ctx, label)));
    }
    return out;
  }

  private static Evidence describe(Probes.Probe p, Outcome o, Step s) {
    String dnat = o.dnat() == null || o.dnat().isEmpty() ? "" : ", DNAT to " + o.dnat();
    String out =
        o.outInterface() == null || o.outInterface().isEmpty() ? "" : ", out " + o.outInterface();
    boolean reply = o.reply() != null && o.reply().steps().contains(s) && !o.steps().contains(s);
    return Evidence.command(
        p.command(),
        p.what()
            + dnat
            + out
            + (reply ? ": its reply is" : ":")
            + " dropped by "
            + s.table()
            + " FORWARD policy DROP");
  }

  private static String fix(DoctorContext ctx, String label) {
    String cidr =
        ctx.facts().clusterCidrs().stream()
            .filter(c -> !c.ipv6())
            .findFirst()
            .map(Cidr::toString)
            .or(() -> ctx.facts().flag("--cluster-cidr"))
            .orElseGet(
                () -> {
                  List<Cidr> pods = NodeNetwork.podSubnets(ctx);
                  return pods.isEmpty() ? "<cluster CIDR>" : pods.get(0).toString();
                });
    String cmd = label.startsWith("legacy ") ? "iptables-legacy" : "iptables";
    return "Accept the pod network in FORWARD, as flannel's FLANNEL-FWD does: "
        + cmd
        + " -A FORWARD -s "
        + cidr
        + " -j ACCEPT; "
        + cmd
        + " -A FORWARD -d "
        + cidr
        + " -j ACCEPT (with Docker, put them in DOCKER-USER, which Docker keeps first), or set"
        + " the policy back with "
        + cmd
        + " -P FORWARD ACCEPT. Use the cluster CIDR (kube-proxy's --cluster-cidr) so every"
        + " node's pods are covered.";
  }
}
