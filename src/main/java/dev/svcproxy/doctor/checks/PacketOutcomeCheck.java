package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.Severity;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * With a packet to explain ({@code --dst}): when its trace fails and no other check named a cause
 * that fails packets that way, says where it fails (the step, with its rule) and which catalogue
 * entries fail packets with that reason.
 */
public final class PacketOutcomeCheck implements Check {
  static final Catalogue.Entry NOT_DELIVERED =
      new Catalogue.Entry(
          "packet-not-delivered",
          Severity.ERROR,
          "The packet asked about is not delivered, or its reply does not come back",
          List.of("seed 004"));

  /** The catalogue entries whose cause fails a packet with each reason. */
  private static final Map<ReasonCode, Set<String>> EXPLAINED_BY =
      Map.ofEntries(
          Map.entry(ReasonCode.NO_ROUTE, Set.of("no-default-route", "no-route-to-endpoint")),
          Map.entry(ReasonCode.FORWARDING_DISABLED, Set.of("ip-forward-off")),
          Map.entry(
              ReasonCode.MARTIAN, Set.of("route-localnet-off", "localhost-nodeport-unsupported")),
          Map.entry(ReasonCode.RPF, Set.of("rp-filter-drops-asymmetric")),
          Map.entry(
              ReasonCode.NO_ENDPOINTS,
              Set.of(
                  "no-endpoints",
                  "etp-local-no-local-endpoints",
                  "etp-local-node-name-mismatch",
                  "etp-local-empty-virtual-server")),
          Map.entry(
              ReasonCode.IPVS_NO_REAL_SERVER,
              Set.of("no-endpoints", "etp-local-empty-virtual-server")),
          Map.entry(
              ReasonCode.POLICY_DROP, Set.of("forward-policy-drop", "mixed-iptables-backends")),
          Map.entry(
              ReasonCode.DROPPED_BY_RULE,
              Set.of(
                  "host-firewall-rejects-vip",
                  "mixed-iptables-backends",
                  "conntrack-invalid-drop")),
          Map.entry(
              ReasonCode.REJECTED, Set.of("host-firewall-rejects-vip", "mixed-iptables-backends")),
          Map.entry(ReasonCode.HAIRPIN_MARTIAN, Set.of("hairpin-not-masqueraded")),
          Map.entry(
              ReasonCode.REPLY_NOT_ROUTED_BACK,
              Set.of(
                  "vip-as-source",
                  "missing-cluster-cidr",
                  "lb-ip-bound-locally",
                  "externalip-is-node-ip")),
          // A VIP (or LB IP) bound locally taken as the node's source: the endpoint answers the
          // VIP, and the tracer may see that reply come back from the wrong source.
          Map.entry(
              ReasonCode.REPLY_SOURCE_MISMATCH,
              Set.of(
                  "vip-as-source",
                  "lb-ip-bound-locally",
                  "missing-cluster-cidr",
                  "pod-cidr-overlaps-node-network",
                  "etp-local-no-snat-remote-endpoints",
                  "hairpin-not-masqueraded")),
          Map.entry(ReasonCode.REPLY_DROPPED, Set.of("conntrack-invalid-drop")),
          Map.entry(ReasonCode.REPLY_REJECTED, Set.of("host-firewall-rejects-vip")));

  /**
   * Entries that explain a reason only for a path that goes through one of their evidence rules:
   * kube-proxy before 1.24 drops eTP=Local traffic without a local endpoint by a mark (nat KUBE-XLB
   * -> KUBE-MARK-DROP) that filter KUBE-FIREWALL drops, a rule's DROP like any other; the finding
   * explains the drop only when the packet took its XLB rule.
   */
  private static final Map<ReasonCode, Set<String>> EXPLAINED_ON_PATH =
      Map.of(
          ReasonCode.DROPPED_BY_RULE,
          Set.of("etp-local-no-local-endpoints", "etp-local-node-name-mismatch"));

  /** The entries that explain {@code o}'s failure {@code why}. */
  private static Set<String> explainers(DoctorContext ctx, Outcome o, ReasonCode why) {
    Set<String> ids = new java.util.TreeSet<>(EXPLAINED_BY.getOrDefault(why, Set.of()));
    Set<String> onPath = EXPLAINED_ON_PATH.getOrDefault(why, Set.of());
    for (Finding f : ctx.reported()) {
      if (!onPath.contains(f.id())) {
        continue;
      }
      for (Evidence e : f.evidence()) {
        String rule = e.text().strip().replaceFirst("^\\[\\d+:\\d+\\] ", "");
        if (o.steps().stream().anyMatch(st -> !st.text().isEmpty() && st.text().equals(rule))) {
          ids.add(f.id());
        }
      }
    }
    return ids;
  }

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(NOT_DELIVERED);
  }

  @Override
  public boolean afterOthers() {
    return true;
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    Optional<PacketSpec> p = ctx.packet();
    if (p.isEmpty()) {
      return List.of();
    }
    TraceResult t = ctx.trace(p.get());
    Set<String> named = new java.util.HashSet<>();
    ctx.reported().forEach(f -> named.add(f.id()));
    // The most probable failure first: it is what the user most likely saw.
    List<Outcome> failing = new ArrayList<>();
    for (Outcome o : t.outcomes()) {
      if (reason(o) != null) {
        failing.add(o);
      }
    }
    failing.sort((a, b) -> Double.compare(b.probability(), a.probability()));
    for (Outcome o : failing) {
      ReasonCode why = reason(o);
      Set<String> ids = explainers(ctx, o, why);
      if (ids.stream().anyMatch(named::contains)) {
        continue;
      }
      if (why == ReasonCode.BRANCHES_NOT_FOLLOWED) {
        continue;
      }
      if (unseen(ctx, o, why)) {
        continue;
      }
      // The share of the packet's paths that fail this way, at this place: outcomes differing
      // only in the endpoint (three endpoints, none routed) are one failure, not a third each.
      double share = 0;
      for (Outcome f : failing) {
        if (reason(f) == why && place(f).equals(place(o))) {
          share += f.probability();
        }
      }
      return List.of(finding(ctx, p.get(), o, why, ids, share));
    }
    return List.of();
  }

  /**
   * Whether the failure rests on something the input does not show (partial pasted input): a policy
   * drop after jumps into chains it lacks, or no route in filtered route output. It is then
   * recorded as not checked instead of explained.
   */
  private static boolean unseen(DoctorContext ctx, Outcome o, ReasonCode why) {
    InputCoverage cov = InputCoverage.of(ctx);
    if (why == ReasonCode.NO_ROUTE) {
      return ctx.files().has(NodeModel.routeFile(ctx.files()))
          && !cov.whole(NodeModel.routeFile(ctx.files()), "the packet's route");
    }
    if (why != ReasonCode.POLICY_DROP) {
      return false;
    }
    List<Step> steps = new ArrayList<>(o.steps());
    if (o.reply() != null) {
      steps.addAll(o.reply().steps());
    }
    for (Step s : steps) {
      if (s.kind() != StepKind.POLICY
          || s.reasonCode() != ReasonCode.POLICY_DROP
          || s.table().startsWith("nft")) {
        continue;
      }
      List<String> missing = cov.unshownFrom(s.table(), s.chain());
      if (!missing.isEmpty()) {
        ctx.assume(
            s.table()
                + " "
                + s.chain()
                + " policy DROP ends the traced packet, but "
                + String.join(", ", missing)
                + " not shown whole: whether a rule there accepts it not checked");
        return true;
      }
    }
    return false;
  }

  /** Why the path fails: the request's reason, else the reply's; null when it works. */
  private static ReasonCode reason(Outcome o) {
    if (!o.delivered()) {
      return o.reasonCode() == null ? ReasonCode.DROPPED_BY_PARTICIPANT : o.reasonCode();
    }
    if (o.reply() != null && o.reply().reasonCode() != null) {
      return o.reply().reasonCode();
    }
    return null;
  }

  /** The step where {@code o} fails (the last one with a reason), or null. */
  private static Step failedStep(Outcome o) {
    List<Step> steps = o.delivered() ? o.reply().steps() : o.steps();
    Step failed = null;
    for (Step s : steps) {
      if (s.reasonCode() != null) {
        failed = s;
      }
    }
    return failed;
  }

  /** Where {@code o} fails, as the summary names it: request or reply, hook, table and chain. */
  private static String place(Outcome o) {
    Step s = failedStep(o);
    return (o.delivered() ? "reply " : "request ")
        + (s == null ? "" : s.hook() + " " + s.table() + " " + s.chain());
  }

  private static Finding finding(
      DoctorContext ctx, PacketSpec p, Outcome o, ReasonCode why, Set<String> ids, double share) {
    List<Evidence> ev = new ArrayList<>();
    boolean reply = o.delivered();
    List<Step> steps = reply ? o.reply().steps() : o.steps();
    Step failed = failedStep(o);
    if (failed != null) {
      ev.add(stepEvidence(ctx, failed));
    } else if (!steps.isEmpty()) {
      ev.add(stepEvidence(ctx, steps.get(steps.size() - 1)));
    }
    if (reply && o.reply().reason() != null && !o.reply().reason().isEmpty()) {
      ev.add(Evidence.command("svcproxy trace (reply)", o.reply().reason()));
    }
    if (o.dnat() != null && !o.dnat().isEmpty()) {
      ev.add(Evidence.command("svcproxy trace", "DNAT to " + o.dnat()));
    }
    String packet =
        (p.src() == null ? "the node" : p.src())
            + " → "
            + p.dst()
            + ":"
            + p.dport()
            + "/"
            + p.proto();
    String code = why.name().toLowerCase(Locale.ROOT).replace('_', '-');
    String where =
        failed == null || failed.chain().isEmpty()
            ? (failed == null ? "" : " at " + failed.hook())
            : " in " + failed.table() + " " + failed.chain();
    String summary =
        (reply ? "The reply to " + packet + " does not come back (" : packet + " fails (")
            + code
            + ")"
            + where
            // Rounded probabilities of a three-way split sum to 0.9999...: "of all" is within a
            // rounding error of 1.
            + (share < 1 - 1e-9
                ? String.format(Locale.ROOT, " on %.0f%% of its paths", 100 * share)
                : "");
    String candidates =
        ids.isEmpty()
            ? "No catalogue entry covers this reason; the step above is where to look."
            : "Packets fail this way under: "
                + String.join(", ", new java.util.TreeSet<>(ids))
                + "; none of them was found on this node, so the step above (a rule, route or"
                + " setting outside kube-proxy's usual state) is the cause to look at.";
    return NOT_DELIVERED.finding(
        summary,
        ev,
        "The tracer walked the packet"
            + (reply ? " and its reply" : "")
            + " through this node's routes and rules; the step cited is where it ended. "
            + candidates,
        failed != null && !failed.chain().isEmpty()
            ? "Change or remove the rule cited ("
                + failed.table()
                + " "
                + failed.chain()
                + (failed.rule() > 0 ? " rule " + failed.rule() : " policy")
                + "), or the state that sends the packet there."
            : "Fix the route or setting the cited step names.");
  }

  private static Evidence stepEvidence(DoctorContext ctx, Step s) {
    if (s.chain().isEmpty()) {
      return Evidence.command("svcproxy trace", s.hook() + ": " + s.text());
    }
    boolean legacy = s.table().startsWith("legacy ");
    boolean nft = s.table().startsWith("nft ");
    String file =
        nft ? "nft-ruleset.json" : legacy ? "iptables-legacy-save.txt" : "iptables-save.txt";
    if (!nft && s.rule() > 0 && ctx.files().has(file)) {
      Optional<Evidence> line =
          ctx.files()
              .first(
                  file,
                  l -> {
                    String x = l.strip();
                    if (x.startsWith("[") && x.indexOf(']') > 0) {
                      x = x.substring(x.indexOf(']') + 1).strip();
                    }
                    return x.equals(s.text());
                  });
      if (line.isPresent()) {
        return line.get();
      }
    }
    if (!nft && s.rule() == 0 && ctx.files().has(file)) {
      Optional<Evidence> decl =
          ctx.files().first(file, l -> l.strip().startsWith(":" + s.chain() + " "));
      if (decl.isPresent()) {
        return decl.get();
      }
    }
    return ctx.files()
        .at(file, 0, s.table() + " " + s.chain() + ": " + s.text() + " (" + s.effect() + ")");
  }
}
