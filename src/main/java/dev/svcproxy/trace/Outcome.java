package dev.svcproxy.trace;

import java.util.List;

/**
 * One way the packet can go, with its probability: the verdict (and why, when not delivered), the
 * rewrites, where it was delivered, every step, and the reply's path back.
 *
 * @param reasonCode why the path was not delivered; null when delivered
 * @param delivery "local" (to a socket on the node), "forward" (routed on) or "output" (created
 *     here and sent out); "" when dropped before a decision
 * @param reply what happens to the reply, or null when there is none to trace
 * @param folded 0 for one path; n > 0 for a summary of n outcomes that differed only in the
 *     endpoint (or of n statistic branches that were not followed), folded past the tracer's
 *     outcome limit
 * @param ipvs what IPVS decided on this path (virtual server, scheduler, real server and the shares
 *     of every candidate), or null when no virtual server took the packet
 */
public record Outcome(
    double probability,
    Verdict verdict,
    ReasonCode reasonCode,
    String dnat,
    String snat,
    boolean masquerade,
    String delivery,
    String outInterface,
    String finalSource,
    String finalDestination,
    List<Step> steps,
    Reply reply,
    int folded,
    Ipvs ipvs) {

  public Outcome {
    steps = List.copyOf(steps);
  }

  /** A path IPVS did not take (or a summary of paths). */
  public Outcome(
      double probability,
      Verdict verdict,
      ReasonCode reasonCode,
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
    this(
        probability,
        verdict,
        reasonCode,
        dnat,
        snat,
        masquerade,
        delivery,
        outInterface,
        finalSource,
        finalDestination,
        steps,
        reply,
        folded,
        null);
  }

  /**
   * IPVS's decision on one path: at which hook ("INPUT" for packets to a local virtual address,
   * "OUTPUT" for packets the node creates), the virtual server ("TCP 10.96.0.10:80"), its
   * scheduler, the real server chosen ("" when none could be), what pinned it ("" when scheduled; a
   * connection entry or persistence template otherwise) and every candidate's share of new
   * connections.
   */
  public record Ipvs(
      String hook,
      String virtualServer,
      String scheduler,
      String realServer,
      String pinnedBy,
      List<Share> shares) {
    public Ipvs {
      shares = List.copyOf(shares);
    }
  }

  /** A real server of a virtual server, its weight and its probability of being chosen. */
  public record Share(String realServer, int weight, double probability) {}

  /** One path (nothing folded). */
  public Outcome(
      double probability,
      Verdict verdict,
      ReasonCode reasonCode,
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
        reasonCode,
        dnat,
        snat,
        masquerade,
        delivery,
        outInterface,
        finalSource,
        finalDestination,
        steps,
        reply,
        0,
        null);
  }

  /**
   * The reply leg: whether it comes back through this node, as what the client sees it, and, when
   * it does not come back or is dropped on the way, why ({@code reasonCode}, with {@code reason}
   * the sentence for people). {@code verdict} and {@code steps} are its walk back through the node.
   */
  public record Reply(
      boolean returnsHere,
      String seenBySenderFrom,
      String reason,
      ReasonCode reasonCode,
      Verdict verdict,
      List<Step> steps) {
    public Reply {
      steps = List.copyOf(steps);
    }

    /** A reply known from addresses and routes alone, not walked. */
    public Reply(
        boolean returnsHere, String seenBySenderFrom, String reason, ReasonCode reasonCode) {
      this(returnsHere, seenBySenderFrom, reason, reasonCode, Verdict.ACCEPT, List.of());
    }

    public Reply withWalk(Verdict v, List<Step> s) {
      return new Reply(returnsHere, seenBySenderFrom, reason, reasonCode, v, s);
    }
  }

  public boolean delivered() {
    return verdict == Verdict.ACCEPT;
  }
}
