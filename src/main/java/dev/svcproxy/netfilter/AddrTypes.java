package dev.svcproxy.netfilter;

import java.util.Set;

/**
 * The route types {@code -m addrtype --src-type/--dst-type} accepts, as libxt_addrtype names them.
 */
public final class AddrTypes {
  /** Every name iptables accepts (the kernel's RTN_* types). */
  public static final Set<String> ALL =
      Set.of(
          "UNSPEC",
          "UNICAST",
          "LOCAL",
          "BROADCAST",
          "ANYCAST",
          "MULTICAST",
          "BLACKHOLE",
          "UNREACHABLE",
          "PROHIBIT",
          "THROW",
          "NAT",
          "XRESOLVE");

  private AddrTypes() {}
}
