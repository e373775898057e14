package dev.svcproxy.trace;

import java.util.List;

/**
 * One way the packet can go, with its probability: the verdict, the rewrites, where it was
 * delivered, every step, and the reply's path back.
 *
 * @param delivery "local" (to a socket on the node), "forward" (routed on) or "output" (created
 *     here and sent out); "" when dropped before a decision
 * @param reply what happens to the reply, or null when there is none to trace
 * @param folded 0 for one path; n > 0 for a summary of n outcomes that differed only in the
 *     endpoint (or of n statistic branches that were not followed), folded past the tracer's
 *     outcome limit
 */
public record Outcome(
    double probability,
    String verdict,
    String dnat,
    String snat,
    boolean masquerade,
    String delivery,
    String outInterface,
    String finalSource,
    String finalDestination,
    List<Step> steps,
    Reply reply,
    int folded) {

  public Outcome {
    steps = List.copyOf(steps);
  }

  /** One path (nothing folded). */
  public Outcome(
      double probability,
      String verdict,
      String dnat,
      String snat,
      boolean masquerade,
      String delivery,
      String outInterface,
      String finalSource,
      String finalDestination,
      List<Step> steps,
      Reply reply) {
    this(
        probability,
        verdict,
        dnat,
        snat,
        masquerade,
        delivery,
        outInterface,
        finalSource,
        finalDestination,
        steps,
        reply,
        0);
  }

  /** The reply leg: whether it comes back through this node, and as what the client sees it. */
  public record Reply(
      boolean returnsHere,
      String seenBySenderFrom,
      String reason,
      String verdict,
      List<Step> steps) {
    public Reply {
      steps = List.copyOf(steps);
    }

    public Reply(boolean returnsHere, String seenBySenderFrom, String reason) {
      this(returnsHere, seenBySenderFrom, reason, "ACCEPT", List.of());
    }

    public Reply withWalk(String v, List<Step> s) {
      return new Reply(returnsHere, seenBySenderFrom, reason, v, s);
    }
  }

  public boolean delivered() {
    return verdict.equals("ACCEPT");
  }
}
