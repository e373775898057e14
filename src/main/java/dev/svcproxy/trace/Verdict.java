package dev.svcproxy.trace;

/** How one path of a traced packet (or its reply) ended. */
public enum Verdict {
  /** Delivered: to a local socket, forwarded on, or sent out. */
  ACCEPT,
  /** Silently discarded. */
  DROP,
  /** Discarded with an error back to the sender (ICMP, TCP reset, or a socket error). */
  REJECT,
  /** Not followed: statistic branches past the tracer's bound. */
  UNKNOWN
}
