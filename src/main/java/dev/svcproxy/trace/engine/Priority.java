package dev.svcproxy.trace.engine;

/**
 * Hook priorities as the kernel numbers them (include/uapi/linux/netfilter_ipv4.h, enum
 * nf_ip_hook_priorities): within one hook, lower runs first. nftables base chains use the same
 * scale, and IPVS registers at offsets from the nat priorities (net/netfilter/ipvs/ip_vs_core.c).
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

  private Priority() {}
}
