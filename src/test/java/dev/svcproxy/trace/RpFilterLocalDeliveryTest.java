package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.engine.Tracer;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Source validation on hand-built nodes (TracerTest's: eth0 192.168.0.2/24 with the default route
 * and 10.0.2.0/24 via 192.168.0.3, cni0 10.0.1.1/24, kube-ipvs0 10.20.0.1). Each expectation is
 * read off the kernel's code (net/ipv4/route.c ip_route_input_slow, which calls fib_validate_source
 * for a local route with oif 0; net/ipv4/fib_frontend.c fib_validate_source /
 * __fib_validate_source), not off the tracer; the lab test (RpFilterLocalDeliveryLabTest) checks
 * the main case on the kernel itself.
 */
class RpFilterLocalDeliveryTest {

  private static NodeState node(String sysctls) {
    return TraceNodes.node(null, Map.of("sysctl.txt", "net.ipv4.ip_forward = 1\n" + sysctls));
  }

  private static Outcome trace(NodeState n, String src, String dst, String in) {
    TraceResult r = new Tracer(n).trace(new PacketSpec(src, 40000, dst, 80, "tcp", in));
    assertThat(r.outcomes()).hasSize(1);
    return r.outcomes().get(0);
  }

  private static void assertDelivered(Outcome o) {
    assertThat(o.verdict()).as(o.steps().toString()).isEqualTo(Verdict.ACCEPT);
    assertThat(o.delivery()).isEqualTo("local");
  }

  private static void assertDropped(Outcome o, ReasonCode why) {
    assertThat(o.verdict()).as(o.steps().toString()).isEqualTo(Verdict.DROP);
    assertThat(o.reasonCode()).isEqualTo(why);
  }

  /**
   * 10.0.2.9 is routed back via eth0; its SYN to the node's own 10.0.1.1 arrives on cni0. rp = 1:
   * the route back does not use cni0 and rpf == 1 → -EXDEV. rp = 2: the route back exists and is
   * unicast → 0. rp = 0: fast path, the source is no address of the node → 0.
   */
  @Test
  void localAddress_asymmetricArrival_strictDropsLooseAndOffDeliver() {
    Outcome strict =
        trace(node("net.ipv4.conf.all.rp_filter = 1\n"), "10.0.2.9", "10.0.1.1", "cni0");
    assertDropped(strict, ReasonCode.RPF);
    assertThat(strict.steps())
        .anyMatch(s -> s.text().contains("rp_filter=1") && s.text().contains("not via cni0"));
    assertDelivered(
        trace(node("net.ipv4.conf.all.rp_filter = 2\n"), "10.0.2.9", "10.0.1.1", "cni0"));
    assertDelivered(
        trace(node("net.ipv4.conf.all.rp_filter = 0\n"), "10.0.2.9", "10.0.1.1", "cni0"));
  }

  /** The same source arriving on eth0, the interface of its route back: strict accepts it. */
  @Test
  void localAddress_symmetricArrival_strictDelivers() {
    assertDelivered(
        trace(node("net.ipv4.conf.all.rp_filter = 1\n"), "10.0.2.9", "192.168.0.2", "eth0"));
  }

  /**
   * IN_DEV_RPFILTER is IN_DEV_MAXCONF: max(conf/all, conf/cni0). all 0 + cni0 1 → 1 (drop); all 1 +
   * cni0 0 → 1 (drop); all 2 + cni0 1 → 2 (loose: delivered); all 1 + cni0 2 → 2 (delivered).
   */
  @Test
  void effectiveValue_isTheLargerOfAllAndTheInterface() {
    assertDropped(
        trace(
            node("net.ipv4.conf.all.rp_filter = 0\nnet.ipv4.conf.cni0.rp_filter = 1\n"),
            "10.0.2.9",
            "10.0.1.1",
            "cni0"),
        ReasonCode.RPF);
    assertDropped(
        trace(
            node("net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.cni0.rp_filter = 0\n"),
            "10.0.2.9",
            "10.0.1.1",
            "cni0"),
        ReasonCode.RPF);
    assertDelivered(
        trace(
            node("net.ipv4.conf.all.rp_filter = 2\nnet.ipv4.conf.cni0.rp_filter = 1\n"),
            "10.0.2.9",
            "10.0.1.1",
            "cni0"));
    assertDelivered(
        trace(
            node("net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.cni0.rp_filter = 2\n"),
            "10.0.2.9",
            "10.0.1.1",
            "cni0"));
  }

  /**
   * Loose mode drops only when there is no route back at all: without the default route,
   * 203.0.113.9 has none, fib_lookup fails → last_resort → rpf != 0 → -EXDEV. With rp_filter 0
   * last_resort accepts.
   */
  @Test
  void looseMode_noRouteBack_dropped_offDelivered() {
    String routes = TracerTest.ROUTES.replace("default via 192.168.0.1 dev eth0\n", "");
    Map<String, String> f = new HashMap<>();
    f.put("ip-route.json", routes);
    f.put("sysctl.txt", "net.ipv4.conf.all.rp_filter = 2\n");
    Outcome loose = trace(TraceNodes.node(null, f), "203.0.113.9", "192.168.0.2", "eth0");
    assertDropped(loose, ReasonCode.RPF);
    assertThat(loose.steps())
        .anyMatch(
            s ->
                s.text().contains("rp_filter=2")
                    && s.text().contains("no usable route back to 203.0.113.9"));
    f.put("sysctl.txt", "net.ipv4.conf.all.rp_filter = 0\n");
    assertDelivered(trace(TraceNodes.node(null, f), "203.0.113.9", "192.168.0.2", "eth0"));
  }

  /**
   * src_valid_mark: the reverse lookup carries the packet's mark only when it is on. mangle
   * PREROUTING marks 0x1, and `fwmark 0x1 lookup 100` routes everything via cni0. The SYN from
   * 203.0.113.9 arrives on cni0. src_valid_mark=0: the reverse lookup has mark 0 → main → default
   * via eth0 → strict drops. src_valid_mark=1: table 100 → via cni0 → accepted.
   */
  @Test
  void srcValidMark_markSteersTheRouteBackOnlyWhenOn() {
    Map<String, String> f = new HashMap<>();
    f.put(
        "ip-rule.json",
        "0:\tfrom all lookup local\n"
            + "100:\tfrom all fwmark 0x1 lookup 100\n"
            + "32766:\tfrom all lookup main\n"
            + "32767:\tfrom all lookup default\n");
    f.put("ip-route.json", TracerTest.ROUTES + "default via 10.0.1.254 dev cni0 table 100\n");
    String mark =
        """
        *mangle
        :PREROUTING ACCEPT [0:0]
        -A PREROUTING -j MARK --set-xmark 0x1/0xffffffff
        COMMIT
        """;
    f.put("sysctl.txt", "net.ipv4.conf.all.rp_filter = 1\n");
    assertDropped(
        trace(TraceNodes.node(mark, f), "203.0.113.9", "10.0.1.1", "cni0"), ReasonCode.RPF);
    f.put("sysctl.txt", "net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.all.src_valid_mark = 1\n");
    assertDelivered(trace(TraceNodes.node(mark, f), "203.0.113.9", "10.0.1.1", "cni0"));
  }

  /**
   * Forwarded: ip_route_input_slow checks forwarding (IN_DEV_FORWARD) before __mkroute_input
   * validates the source, so with ip_forward=0 an asymmetric packet is "not forwarded", not an
   * rp_filter drop; with forwarding on, strict drops it.
   */
  @Test
  void forwarded_forwardingOffIsDecidedBeforeRpFilter() {
    Map<String, String> f = new HashMap<>();
    f.put("sysctl.txt", "net.ipv4.ip_forward = 0\nnet.ipv4.conf.all.rp_filter = 1\n");
    assertDropped(
        trace(TraceNodes.node(null, f), "10.0.2.9", "192.168.0.77", "cni0"),
        ReasonCode.FORWARDING_DISABLED);
    assertDropped(
        trace(node("net.ipv4.conf.all.rp_filter = 1\n"), "10.0.2.9", "192.168.0.77", "cni0"),
        ReasonCode.RPF);
  }
}
