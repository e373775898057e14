package dev.svcproxy.trace.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.bundle.BundleReader;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * fib_validate_source for sources the tracer's packet entry cannot express: a packet whose source
 * is an address of the node is traced as created on the node, so a spoofed one arriving from
 * outside is checked here directly. Expectations come from net/ipv4/fib_frontend.c, as the class
 * comment of SourceValidation states the rule.
 */
class SourceValidationTest {
  private static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.0.2\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"cni0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.1.1\",\"prefixlen\":24}]}]";
  private static final String ROUTES =
      """
      default via 192.168.0.1 dev eth0
      192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2
      10.0.1.0/24 dev cni0 proto kernel scope link src 10.0.1.1
      local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
      local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
      local 192.168.0.2 dev eth0 table local proto kernel scope host src 192.168.0.2
      local 10.0.1.1 dev cni0 table local proto kernel scope host src 10.0.1.1
      """;

  private static NodeState node(String sysctls, String extraRoutes) {
    return BundleReader.fromFiles(
        Map.of(
            "ip-addr.json", ADDR,
            "ip-route.json", ROUTES + extraRoutes,
            "sysctl.txt", "net.ipv4.ip_forward = 1\n" + sysctls));
  }

  /** The verdict for a SYN from {@code src} to the node's 192.168.0.2, arriving on eth0. */
  private static ReasonCode toLocal(NodeState n, String src) {
    TraceRun run = new TraceRun(n, new HookWalker(List.of()), 10);
    return SourceValidation.check(
        run, new Branch(src, 40000, "192.168.0.2", 80, "tcp", "eth0"), "");
  }

  /**
   * 10.0.1.1 (cni0's address) arriving on eth0. rp 0, no custom rules or local routes: the fast
   * path's inet_lookup_ifaddr_rcu finds it → -EINVAL (martian); accept_local (all OR eth0) skips
   * that. rp 1: the full check's route back is the local route → -EINVAL without accept_local; with
   * it the local route's device (cni0) is not eth0 → strict -EXDEV; rp 2 → accepted.
   */
  @Test
  void check_sourceIsAnAddressOfTheNode_martianUnlessAcceptLocal() {
    assertThat(toLocal(node("", ""), "10.0.1.1")).isEqualTo(ReasonCode.MARTIAN);
    assertThat(toLocal(node("net.ipv4.conf.eth0.accept_local = 1\n", ""), "10.0.1.1")).isNull();
    assertThat(toLocal(node("net.ipv4.conf.all.accept_local = 1\n", ""), "10.0.1.1")).isNull();
    assertThat(toLocal(node("net.ipv4.conf.all.rp_filter = 1\n", ""), "10.0.1.1"))
        .isEqualTo(ReasonCode.MARTIAN);
    assertThat(
            toLocal(
                node("net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.all.accept_local = 1\n", ""),
                "10.0.1.1"))
        .isEqualTo(ReasonCode.RPF);
    assertThat(
            toLocal(
                node("net.ipv4.conf.all.rp_filter = 2\nnet.ipv4.conf.all.accept_local = 1\n", ""),
                "10.0.1.1"))
        .isNull();
  }

  /**
   * A user-added local route (10.30.0.0/24 on lo, as for AnyIP) sets fib_has_custom_local_routes:
   * rp 0 then runs the full check, whose route back to 10.30.0.5 is of type local → -EINVAL. No
   * interface holds 10.30.0.5, so without that route the fast path accepts it; the kernel's own
   * local routes (an address's /32, lo's 127.0.0.0/8) do not count as custom.
   */
  @Test
  void check_customLocalRoute_rpOff_sourceInsideIsMartian() {
    NodeState custom = node("", "local 10.30.0.0/24 dev lo table local scope host\n");
    assertThat(SourceValidation.hasCustomRulesOrLocalRoutes(custom)).isTrue();
    assertThat(toLocal(custom, "10.30.0.5")).isEqualTo(ReasonCode.MARTIAN);
    NodeState plain = node("", "");
    assertThat(SourceValidation.hasCustomRulesOrLocalRoutes(plain)).isFalse();
    assertThat(toLocal(plain, "10.30.0.5")).isNull();
  }

  /** A route back of type unreachable is "no route": rp 0 accepts (last_resort), rp 2 drops. */
  @Test
  void check_unreachableRouteBack_droppedOnlyWithRpFilter() {
    String unreachable = "unreachable 203.0.113.0/24\n";
    assertThat(toLocal(node("", unreachable), "203.0.113.9")).isNull();
    assertThat(toLocal(node("net.ipv4.conf.all.rp_filter = 2\n", unreachable), "203.0.113.9"))
        .isEqualTo(ReasonCode.RPF);
  }
}
