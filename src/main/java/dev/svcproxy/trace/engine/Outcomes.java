package dev.svcproxy.trace.engine;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/** Turns ended paths into outcomes: merged when they ended alike, folded past the limit. */
final class Outcomes {
  private Outcomes() {}

  /** The outcomes of the ended paths {@code done}, merged, folded, and the unfollowed remainder. */
  static List<Outcome> of(List<Branch> done, TraceRun run) {
    List<Outcome> outcomes = new ArrayList<>();
    for (Branch b : done) {
      outcomes.add(outcome(b, run));
    }
    List<Outcome> merged = fold(merge(outcomes), run);
    if (run.cuts > 0) {
      merged.add(notFollowed(run));
    }
    return merged;
  }

  private static Outcome outcome(Branch b, TraceRun run) {
    Verdict verdict = b.endVerdict;
    String delivery = b.endDelivery;
    String dnat = b.dnatDone ? b.dst + ":" + b.dport : null;
    String snat = b.snatDone ? b.src + ":" + b.sport : null;
    Outcome.Reply reply = null;
    if (verdict == Verdict.ACCEPT) {
      reply = ReplyAnalysis.of(b, delivery, run);
    }
    List<Step> steps = b.steps;
    if (b.merged > 0) {
      steps = new ArrayList<>(steps);
      steps.add(
          Step.note(
              StepKind.SUMMARY,
              "paths",
              b.merged
                  + " other path"
                  + (b.merged == 1 ? "" : "s")
                  + " reached the same packet state and went on identically: merged into this one,"
                  + " probabilities added"));
    }
    return new Outcome(
        b.probability,
        verdict,
        b.endReason,
        dnat,
        snat,
        b.masquerade,
        delivery,
        b.outIface,
        b.src,
        b.dst + Tracer.portSuffix(b.dport),
        steps,
        reply,
        0,
        b.ipvs);
  }

  private record OutcomeKey(
      Verdict verdict,
      String dnat,
      String snat,
      String delivery,
      String outInterface,
      List<Step> steps) {}

  /** Outcomes that ended the same way are merged, summing probability, keeping the first path. */
  private static List<Outcome> merge(List<Outcome> in) {
    Map<OutcomeKey, Outcome> out = new LinkedHashMap<>();
    for (Outcome o : in) {
      OutcomeKey key =
          new OutcomeKey(
              o.verdict(), o.dnat(), o.snat(), o.delivery(), o.outInterface(), o.steps());
      Outcome prev = out.get(key);
      if (prev == null) {
        out.put(key, o);
      } else {
        out.put(
            key,
            new Outcome(
                prev.probability() + o.probability(),
                o.verdict(),
                prev.reasonCode(),
                o.dnat(),
                o.snat(),
                o.masquerade(),
                o.delivery(),
                o.outInterface(),
                o.finalSource(),
                o.finalDestination(),
                prev.steps(),
                o.reply(),
                0,
                prev.ipvs()));
      }
    }
    return new ArrayList<>(out.values());
  }

  /** What a summary keeps apart: the verdict and the shape of the path, not the endpoint. */
  private record Shape(
      Verdict verdict,
      String delivery,
      String outInterface,
      boolean dnat,
      String snat,
      boolean masquerade,
      Boolean replyReturns) {}

  /**
   * Past the limit, outcomes that differ only in the endpoint become one summary per verdict and
   * path shape: its total probability, how many outcomes it folds, and the most probable ones by
   * name.
   */
  private static List<Outcome> fold(List<Outcome> in, TraceRun run) {
    if (in.size() <= run.maxOutcomes) {
      return in;
    }
    Map<Shape, List<Outcome>> groups = new LinkedHashMap<>();
    for (Outcome o : in) {
      Shape s =
          new Shape(
              o.verdict(),
              o.delivery(),
              o.outInterface(),
              o.dnat() != null,
              o.masquerade() ? "masquerade" : o.snat(),
              o.masquerade(),
              o.reply() == null ? null : o.reply().returnsHere());
      groups.computeIfAbsent(s, k -> new ArrayList<>()).add(o);
    }
    List<Outcome> out = new ArrayList<>();
    int folded = 0;
    int summaries = 0;
    for (List<Outcome> g : groups.values()) {
      if (g.size() == 1) {
        out.add(g.get(0));
        continue;
      }
      folded += g.size();
      summaries++;
      out.add(summary(g));
    }
    run.warnings.add(
        String.format(
            Locale.ROOT,
            "%d outcomes, more than the limit of %d: %d outcomes that differ only in the endpoint"
                + " are summarised as %d (one per verdict and path shape, with their total"
                + " probability)",
            in.size(),
            run.maxOutcomes,
            folded,
            summaries));
    return out;
  }

  private static Outcome summary(List<Outcome> g) {
    List<Outcome> byP = new ArrayList<>(g);
    byP.sort((a, b) -> Double.compare(b.probability(), a.probability()));
    double total = 0;
    for (Outcome o : g) {
      total += o.probability();
    }
    StringBuilder names = new StringBuilder();
    for (int i = 0; i < Math.min(5, byP.size()); i++) {
      Outcome o = byP.get(i);
      names
          .append(i == 0 ? "" : ", ")
          .append(o.dnat() != null ? o.dnat() : o.finalDestination())
          .append(String.format(Locale.ROOT, " (p=%.6f)", o.probability()));
    }
    Outcome first = byP.get(0);
    List<Step> steps = new ArrayList<>(first.steps());
    steps.add(
        Step.note(
            StepKind.SUMMARY,
            "summary",
            String.format(
                Locale.ROOT,
                "%d outcomes like this one, differing only in the endpoint, folded into one with"
                    + " total probability %.6f; the most probable: %s%s",
                g.size(),
                total,
                names,
                g.size() > 5 ? ", ..." : "")));
    boolean sameSnat = g.stream().allMatch(o -> Objects.equals(o.snat(), first.snat()));
    boolean sameSrc = g.stream().allMatch(o -> o.finalSource().equals(first.finalSource()));
    return new Outcome(
        total,
        first.verdict(),
        first.reasonCode(),
        null,
        sameSnat ? first.snat() : null,
        first.masquerade(),
        first.delivery(),
        first.outInterface(),
        sameSrc ? first.finalSource() : "",
        "",
        steps,
        first.reply(),
        g.size());
  }

  /** The statistic branches not followed past the split budget, as one outcome. */
  private static Outcome notFollowed(TraceRun run) {
    String text =
        String.format(
            Locale.ROOT,
            "%d statistic branches (total probability %.6f) were not followed: more than %d"
                + " splits; the first at %s",
            run.cuts,
            run.cutProbability,
            run.maxSplits,
            run.firstCut);
    run.warnings.add(text);
    return new Outcome(
        run.cutProbability,
        Verdict.UNKNOWN,
        ReasonCode.BRANCHES_NOT_FOLLOWED,
        null,
        null,
        false,
        "",
        "",
        "",
        "",
        List.of(Step.note(StepKind.SUMMARY, "summary", text, ReasonCode.BRANCHES_NOT_FOLLOWED)),
        null,
        run.cuts);
  }
}
