package dev.svcproxy.trace.engine;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.List;

/** One path of a traced packet: its current headers and kernel state, probability and steps. */
final class Branch {
  String src;
  int sport;
  String dst;
  int dport;
  final String proto;
  String inIface;
  String outIface = "";
  long mark;
  long ctMark;

  /** NEW, ESTABLISHED, RELATED, INVALID or UNTRACKED. */
  String ctState = "NEW";

  boolean replyDirection;

  /** Conntrack has looked the packet up (it carries an entry): a later NOTRACK does nothing. */
  boolean tracked;

  /** The conntrack hook has seen this packet (tracked or not): it does not look it up again. */
  boolean conntrackSeen;

  boolean natDecided;
  boolean dnatDone;
  boolean snatDone;
  boolean masquerade;
  boolean physdevBridged;
  String origSrc;
  int origSport;
  String origDst;
  int origDport;

  /** The source (address, port) a captured conntrack entry gives this packet after source NAT. */
  String[] ctSource;

  /** What IPVS decided for this connection; null when no virtual server took it. */
  Outcome.Ipvs ipvs;

  /** The IPVS connection this packet belongs to (virtual address, real server); null if none. */
  IpvsHook.Binding ipvsBinding;

  /**
   * IPVS sent this packet on from INPUT: it re-entered at OUTPUT, where its destination NAT is
   * already decided (nat OUTPUT is not consulted).
   */
  boolean ipvsForwarded;

  /**
   * The real server (address, port) a captured conntrack entry of an IPVS connection names as its
   * reply source: IPVS, not conntrack, rewrites the destination, at its own hook.
   */
  String[] ctIpvsDest;

  double probability = 1.0;

  /** How many other paths reached this branch's state and were merged into it. */
  int merged;

  List<Step> steps = new ArrayList<>();

  /** How the path ended (set once, when it leaves the walk): verdict, delivery and why. */
  Verdict endVerdict;

  String endDelivery = "";

  ReasonCode endReason;

  Branch(String src, int sport, String dst, int dport, String proto, String inIface) {
    this.src = src;
    this.sport = sport;
    this.dst = dst;
    this.dport = dport;
    this.proto = proto;
    this.inIface = inIface;
    this.origSrc = src;
    this.origSport = sport;
    this.origDst = dst;
    this.origDport = dport;
  }

  Branch copy() {
    Branch b = new Branch(src, sport, dst, dport, proto, inIface);
    b.outIface = outIface;
    b.mark = mark;
    b.ctMark = ctMark;
    b.ctState = ctState;
    b.replyDirection = replyDirection;
    b.tracked = tracked;
    b.conntrackSeen = conntrackSeen;
    b.natDecided = natDecided;
    b.dnatDone = dnatDone;
    b.snatDone = snatDone;
    b.masquerade = masquerade;
    b.physdevBridged = physdevBridged;
    b.origSrc = origSrc;
    b.origSport = origSport;
    b.origDst = origDst;
    b.origDport = origDport;
    b.ctSource = ctSource;
    b.ipvs = ipvs;
    b.ipvsBinding = ipvsBinding;
    b.ipvsForwarded = ipvsForwarded;
    b.ctIpvsDest = ctIpvsDest;
    b.probability = probability;
    b.merged = merged;
    b.steps = new ArrayList<>(steps);
    return b;
  }

  /** Everything that decides the rest of the walk: branches with equal keys go on identically. */
  record State(
      String src,
      int sport,
      String dst,
      int dport,
      String inIface,
      String outIface,
      long mark,
      long ctMark,
      String ctState,
      boolean replyDirection,
      boolean tracked,
      boolean natDecided,
      boolean dnatDone,
      boolean snatDone,
      boolean masquerade,
      boolean physdevBridged,
      List<String> ctSource,
      Outcome.Ipvs ipvs,
      IpvsHook.Binding ipvsBinding,
      boolean ipvsForwarded,
      List<String> ctIpvsDest) {}

  State state() {
    return new State(
        src,
        sport,
        dst,
        dport,
        inIface,
        outIface,
        mark,
        ctMark,
        ctState,
        replyDirection,
        tracked,
        natDecided,
        dnatDone,
        snatDone,
        masquerade,
        physdevBridged,
        ctSource == null ? null : List.of(ctSource),
        ipvs,
        ipvsBinding,
        ipvsForwarded,
        ctIpvsDest == null ? null : List.of(ctIpvsDest));
  }

  /** Takes over a branch in the same state: its probability (and its paths) join this one. */
  void absorb(Branch other) {
    probability += other.probability;
    merged += other.merged + 1;
  }

  void step(Step s) {
    steps.add(s);
  }

  String tuple() {
    return src + (sport > 0 ? ":" + sport : "") + " -> " + dst + (dport > 0 ? ":" + dport : "");
  }
}
