package dev.svcproxy.trace.engine;

import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.target.Target;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Walks iptables chains: rule by rule, jumps and returns, the base chain's policy, and every
 * statistic split as two paths with their probabilities. Stateless; one trace's state is in its
 * {@link TraceRun}.
 */
final class ChainWalker {
  private static final int MAX_DEPTH = 64;

  private ChainWalker() {}

  /** How a rule (or a called chain) left the packet. */
  enum Kind {
    ACCEPT,
    DROP,
    REJECT,
    RETURN
  }

  /** A path after a rule; kind null means "continue after this rule". */
  record Res(Branch branch, Kind kind) {}

  /** Runs the base chain {@code hook} of {@code v}; returns the paths it accepted. */
  static List<Branch> runChain(
      List<Branch> in, TableView v, Hook hook, TraceRun run, List<Branch> done) {
    String h = hook.name();
    List<Branch> out = new ArrayList<>();
    for (Branch b : in) {
      for (Res r : walk(b, v, h, h, 0, run)) {
        Kind k = r.kind();
        if (k == Kind.RETURN) {
          String policy = v.policies().getOrDefault(h, "ACCEPT");
          if (!policy.equals("ACCEPT")) {
            r.branch()
                .step(
                    new Step(
                        StepKind.POLICY,
                        h,
                        v.label(),
                        h,
                        0,
                        ":" + h + " " + policy,
                        "policy " + policy,
                        policy.equals("DROP") ? ReasonCode.POLICY_DROP : null));
          }
          k = policy.equals("DROP") ? Kind.DROP : Kind.ACCEPT;
        }
        switch (k) {
          case ACCEPT -> out.add(r.branch());
          case DROP ->
              run.end(
                  r.branch(), Verdict.DROP, reason(r.branch(), ReasonCode.DROPPED_BY_RULE), done);
          case REJECT ->
              run.end(r.branch(), Verdict.REJECT, reason(r.branch(), ReasonCode.REJECTED), done);
          default -> {}
        }
      }
    }
    return mergeStates(out);
  }

  /** The reason code of the step that ended the path (its last), or {@code dflt}. */
  private static ReasonCode reason(Branch b, ReasonCode dflt) {
    ReasonCode last = b.steps.isEmpty() ? null : b.steps.get(b.steps.size() - 1).reasonCode();
    return last != null ? last : dflt;
  }

  /** Branches in the same state go on identically: keep one, with their probabilities added. */
  static List<Branch> mergeStates(List<Branch> in) {
    if (in.size() < 2) {
      return in;
    }
    Map<Branch.State, Branch> byState = new LinkedHashMap<>();
    for (Branch b : in) {
      Branch prev = byState.putIfAbsent(b.state(), b);
      if (prev != null) {
        prev.absorb(b);
      }
    }
    return new ArrayList<>(byState.values());
  }

  private record ResKey(Kind kind, Branch.State state) {}

  private static List<Res> mergeResults(List<Res> in) {
    if (in.size() < 2) {
      return in;
    }
    Map<ResKey, Res> byState = new LinkedHashMap<>();
    for (Res r : in) {
      Res prev = byState.putIfAbsent(new ResKey(r.kind(), r.branch().state()), r);
      if (prev != null) {
        prev.branch().absorb(r.branch());
      }
    }
    return new ArrayList<>(byState.values());
  }

  /**
   * Queues {@code b} before rule {@code index}, merged with a branch already there in its state.
   */
  private static void push(TreeMap<Integer, Map<Branch.State, Branch>> work, Branch b, int index) {
    Branch prev = work.computeIfAbsent(index, k -> new LinkedHashMap<>()).putIfAbsent(b.state(), b);
    if (prev != null) {
      prev.absorb(b);
    }
  }

  /** Walks {@code chain} of {@code v} from its first rule. */
  static List<Res> walk(
      Branch start, TableView v, String hook, String chain, int depth, TraceRun run) {
    List<Res> out = new ArrayList<>();
    if (depth > MAX_DEPTH) {
      run.warnings.add("chain nesting deeper than " + MAX_DEPTH + " at " + chain + ": stopped");
      out.add(new Res(start, Kind.RETURN));
      return out;
    }
    List<Rule> rules = v.chains().getOrDefault(chain, List.of());
    // Branches are walked in rule order, so that paths which reach the same rule in the same state
    // (a statistic rule whose target changed nothing, or set a mark already set) become one: the
    // number of branches grows with the number of distinct states, not of paths.
    TreeMap<Integer, Map<Branch.State, Branch>> work = new TreeMap<>();
    push(work, start, 0);
    while (!work.isEmpty()) {
      Map.Entry<Integer, Map<Branch.State, Branch>> next = work.pollFirstEntry();
      for (Branch b : next.getValue().values()) {
        walkFrom(b, next.getKey(), rules, v, hook, chain, depth, work, out, run);
      }
    }
    return mergeResults(out);
  }

  private static void walkFrom(
      Branch b,
      int from,
      List<Rule> rules,
      TableView v,
      String hook,
      String chain,
      int depth,
      TreeMap<Integer, Map<Branch.State, Branch>> work,
      List<Res> out,
      TraceRun run) {
    boolean finished = false;
    for (int i = from; i < rules.size() && !finished; i++) {
      Rule rule = rules.get(i);
      RuleEvaluator.Verdict verdict = run.eval.evaluate(rule, b);
      if (verdict.unknown() != null) {
        run.warnings.add(
            "could not evaluate "
                + verdict.unknown()
                + ": "
                + verdict.reason()
                + ", assumed it does not match ("
                + v.label()
                + " "
                + chain
                + " rule "
                + (i + 1)
                + ")");
        b.step(
            new Step(
                StepKind.UNEVALUATED,
                hook,
                v.label(),
                chain,
                i + 1,
                rule.print(),
                "could not evaluate "
                    + verdict.unknown()
                    + " ("
                    + verdict.reason()
                    + "): assumed no match"));
        continue;
      }
      double p = verdict.matchProbability();
      if (p == 0) {
        continue;
      }
      if (p < 1) {
        Step at =
            new Step(StepKind.BRANCH_NOT_TAKEN, hook, v.label(), chain, i + 1, rule.print(), "");
        if (run.splits >= run.maxSplits) {
          // Past the budget: follow the more probable side only, and account for the other.
          boolean takeIt = p >= 0.5;
          double lost = b.probability * (takeIt ? 1 - p : p);
          run.cutProbability += lost;
          if (run.cuts++ == 0) {
            run.firstCut = v.label() + " " + chain + " rule " + (i + 1);
          }
          b.probability -= lost;
          if (takeIt) {
            b.step(
                Step.note(
                    StepKind.BRANCH_NOT_TAKEN,
                    hook,
                    String.format(
                        Locale.ROOT,
                        "%s rule %d not taken (p=%.4f): not followed, more than %d branches",
                        chain,
                        i + 1,
                        1 - p,
                        run.maxSplits)));
          } else {
            b.step(
                stepWith(
                    at,
                    String.format(
                        Locale.ROOT,
                        "not taken (p=%.4f); the taken side (p=%.4f) is not followed: more"
                            + " than %d branches",
                        1 - p,
                        p,
                        run.maxSplits)));
            continue;
          }
        } else {
          run.splits++;
          Branch miss = b.copy();
          miss.probability *= 1 - p;
          miss.step(stepWith(at, String.format(Locale.ROOT, "not taken (p=%.4f)", 1 - p)));
          push(work, miss, i + 1);
          b.probability *= p;
        }
      }
      List<Res> r = Targets.apply(rule, b, v, hook, chain, i + 1, depth, p < 1 ? p : 1.0, run);
      for (Res x : r) {
        if (x.kind() == null) {
          // Non-terminal target: keep walking this chain.
          push(work, x.branch(), i + 1);
        } else if (x.kind() == Kind.RETURN && x.branch() != null && isJumpContinuation(rule, run)) {
          push(work, x.branch(), i + 1);
        } else {
          out.add(x);
        }
      }
      finished = true;
    }
    if (!finished) {
      if (depth > 0) {
        b.step(
            new Step(
                StepKind.CHAIN_RETURN,
                hook,
                v.label(),
                chain,
                0,
                "end of " + chain,
                "no rule matched: return"));
      }
      out.add(new Res(b, Kind.RETURN));
    }
  }

  private static Step stepWith(Step s, String effect) {
    return s.with(s.kind(), effect, null);
  }

  private static boolean isJumpContinuation(Rule rule, TraceRun run) {
    return run.eval.typed(rule).target() instanceof Target.Jump j && !j.isGoto();
  }
}
