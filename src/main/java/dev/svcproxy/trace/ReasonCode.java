package dev.svcproxy.trace;

/**
 * Why a path was not delivered, or why its reply does not come back: stable codes for programs (the
 * doctor); the text beside them is for people.
 */
public enum ReasonCode {
  /** No usable route (unreachable, blackhole, prohibit, or none at all). */
  NO_ROUTE,
  /** Forwarding is off (net.ipv4.ip_forward=0). */
  FORWARDING_DISABLED,
  /**
   * A martian: a loopback source or destination off the loopback interface with route_localnet=0,
   * or a source input routing refuses (an address of this node without accept_local, a broadcast).
   */
  MARTIAN,
  /** Reverse-path filtering (rp_filter) found the route back to the source elsewhere. */
  RPF,
  /** A rule's DROP target. */
  DROPPED_BY_RULE,
  /** A rule's REJECT target. */
  REJECTED,
  /** A base chain's DROP policy. */
  POLICY_DROP,
  /** A kube-proxy rule for a Service without (local) endpoints dropped or rejected it. */
  NO_ENDPOINTS,
  /** MASQUERADE found no address on the output interface. */
  MASQUERADE_NO_ADDRESS,
  /** Something other than an iptables rule at a hook dropped it (nftables, IPVS, a test). */
  DROPPED_BY_PARTICIPANT,
  /**
   * An IPVS virtual server matched but has no real server with weight above 0: the kernel answers
   * with ICMP port unreachable and drops the packet (ip_vs_leave).
   */
  IPVS_NO_REAL_SERVER,
  /** Statistic branches past the tracer's bound, not followed. */
  BRANCHES_NOT_FOLLOWED,
  /** The reply comes back but is dropped on its way through this node. */
  REPLY_DROPPED,
  /** The reply comes back but is rejected on its way through this node. */
  REPLY_REJECTED,
  /**
   * DNAT without SNAT where the backend reaches the client without this node: the reply is not
   * un-NATed and arrives from the wrong source.
   */
  REPLY_SOURCE_MISMATCH,
  /** The packet was sent from its own destination (a hairpin without masquerade). */
  HAIRPIN_MARTIAN,
  /** The packet left with a source of this node that the network does not route back here. */
  REPLY_NOT_ROUTED_BACK
}
