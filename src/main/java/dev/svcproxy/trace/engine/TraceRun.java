package dev.svcproxy.trace.engine;

import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The state of one trace call: its routing and rule evaluator (with their caches), the warnings,
 * and the statistic-split budget. Made fresh for every call, so that nothing one trace learns leaks
 * into the next.
 */
final class TraceRun {
  final NodeState node;
  final Routing routing;
  final RuleEvaluator eval;
  final HookWalker hooks;
  final int maxOutcomes;

  /**
   * How many statistic splits one trace follows (four per allowed outcome, so that a service of up
   * to that many endpoints is still enumerated in full before its outcomes fold): past that a split
   * follows its more probable side only, so that the enumeration itself stays bounded.
   */
  final int maxSplits;

  final Set<String> warnings = new LinkedHashSet<>();
  int splits;
  double cutProbability;
  int cuts;
  String firstCut;

  TraceRun(NodeState node, HookWalker hooks, int maxOutcomes) {
    this.node = node;
    this.hooks = hooks;
    this.maxOutcomes = maxOutcomes;
    this.maxSplits = (int) Math.min(Integer.MAX_VALUE, 4L * maxOutcomes);
    List<String> assumed = new ArrayList<>();
    this.routing = new Routing(node, assumed);
    this.eval = new RuleEvaluator(node, routing);
    warnings.addAll(node.notes());
    warnings.addAll(assumed);
  }

  /** Ends a path delivered by {@code delivery} ("local", "forward", "output"). */
  void deliver(Branch b, String delivery, List<Branch> done) {
    b.endVerdict = Verdict.ACCEPT;
    b.endDelivery = delivery;
    done.add(b);
  }

  /** Ends a path that was not delivered, with its verdict and why. */
  void end(Branch b, Verdict verdict, ReasonCode reason, List<Branch> done) {
    b.endVerdict = verdict;
    b.endDelivery = "";
    b.endReason = reason;
    done.add(b);
  }

  /** Runs {@code in} through the participants of {@code hook}. */
  List<Branch> hook(Hook hook, List<Branch> in, List<Branch> done) {
    return hooks.run(hook, in, this, done);
  }

  String sysctl(String key, String dflt) {
    return node.sysctl(key, dflt);
  }

  /** A numeric sysctl, 0 when absent or not a number (said in the warnings). */
  int sysctlInt(String key) {
    String v = node.sysctl(key, "0").strip();
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      warnings.add(key + " = " + v + " is not a number: assumed 0");
      return 0;
    }
  }
}
