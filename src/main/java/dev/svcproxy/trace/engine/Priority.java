package dev.svcproxy.trace.engine;

/**
 * Hook priorities as the kernel numbers them (include/uapi/linux/netfilter_ipv4.h, enum
 * nf_ip_hook_priorities): within one hook, lower runs first. nftables base chains use the same
 * scale (a chain's "priority dstnat" is NAT_DST, "filter" is FILTER, any integer works), and IPVS
 * registers at offsets from the nat priorities (net/netfilter/ipvs/ip_vs_core.c, ip_vs_ops4):
 * requests at INPUT NAT_SRC - 1 (after filter INPUT) and OUTPUT NAT_DST + 2, replies at INPUT
 * NAT_SRC - 2, OUTPUT NAT_DST + 1 and FORWARD NAT_SRC, ICMP at FORWARD NAT_SRC - 1.
 */
public final class Priority {
  public static final int RAW = -300;
  public static final int CONNTRACK = -200;
  public static final int MANGLE = -150;
  public static final int NAT_DST = -100;
  public static final int FILTER = 0;
  public static final int SECURITY = 50;
  public static final int NAT_SRC = 100;
  public static final int CONNTRACK_CONFIRM = Integer.MAX_VALUE;

  /** ip_vs_reply4 at LOCAL_IN: replies of IPVS connections to a local client, de-NATed. */
  public static final int IPVS_REPLY_INPUT = NAT_SRC - 2;

  /** ip_vs_remote_request4 at LOCAL_IN: after filter INPUT, before nat INPUT. */
  public static final int IPVS_REQUEST_INPUT = NAT_SRC - 1;

  /** ip_vs_local_reply4 at LOCAL_OUT: replies a local real server sends, de-NATed. */
  public static final int IPVS_REPLY_OUTPUT = NAT_DST + 1;

  /** ip_vs_local_request4 at LOCAL_OUT: after nat OUTPUT, before filter OUTPUT. */
  public static final int IPVS_REQUEST_OUTPUT = NAT_DST + 2;

  /** ip_vs_reply4 at FORWARD: replies routed on to a remote client, de-NATed. */
  public static final int IPVS_REPLY_FORWARD = NAT_SRC;

  private Priority() {}
}
