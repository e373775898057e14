package dev.svcproxy.trace;

/** What a step of a trace is about. */
public enum StepKind {
  /** The packet is created or arrives (or its reply arrives). */
  PACKET,
  /** A routing decision, or a check made with it (martian, rp_filter, ip_forward). */
  ROUTE,
  /** A conntrack lookup, or a rewrite conntrack makes from an entry's NAT. */
  CONNTRACK,
  /** A rule matched and its target left the packet as it was (no target, LOG, ...). */
  RULE_MATCH,
  /** A rule matched and jumped (or went) to a chain. */
  JUMP,
  /** A rule matched and its target decided or changed the packet (verdict, NAT, mark). */
  TARGET,
  /** A statistic rule's branch that is not taken on this path. */
  BRANCH_NOT_TAKEN,
  /** A rule whose match or target could not be evaluated; assumed not to match or to continue. */
  UNEVALUATED,
  /** The end of a called chain: no rule matched, the packet returns. */
  CHAIN_RETURN,
  /** A base chain's policy decided. */
  POLICY,
  /** Bridged traffic that iptables does not see. */
  BRIDGE,
  /**
   * IPVS: a virtual server matched and its scheduler chose a real server (or none), a connection
   * entry pinned one, or a reply was de-NATed back to the virtual address.
   */
  IPVS,
  /** Something run at a hook other than an iptables table (nftables, IPVS, a test participant). */
  PARTICIPANT,
  /** Where the packet was delivered or sent out. */
  DELIVERY,
  /** A note about the trace itself: merged paths, folded outcomes. */
  SUMMARY
}
