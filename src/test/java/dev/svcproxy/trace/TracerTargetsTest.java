package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.engine.Tracer;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Targets whose options the tracer once read as text and got wrong. Expected values are worked out
 * by hand from the kernel's code: net/netfilter/xt_connmark.c (connmark_tg_shift) for CONNMARK,
 * net/netfilter/nf_nat_core.c (get_unique_tuple, nf_nat_l4proto_unique_tuple) and
 * nf_nat_masquerade.c / nf_nat_redirect.c for the NAT targets, assuming no clashing tuple.
 */
class TracerTargetsTest {

  private static TraceResult forward(String rules, int dport) {
    return new Tracer(TraceNodes.node(rules, Map.of()))
        .trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", dport, "tcp", "cni0"));
  }

  private static String mangle(String... rules) {
    return "*mangle\n:PREROUTING ACCEPT [0:0]\n"
        + String.join("\n", rules).replaceAll("(?m)^", "-A PREROUTING ")
        + "\nCOMMIT\n";
  }

  private static String nat(String chain, String rule) {
    return """
        *nat
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A %s -p tcp %s
        COMMIT
        """
        .formatted(chain, rule);
  }

  /**
   * xt_connmark restore: mark = (mark &amp; ~nfmask) ^ (ctmark &amp; ctmask). mark 0x11, ctmark
   * 0x4200, both masks 0xff00: (0x11 &amp; ~0xff00) ^ (0x4200 &amp; 0xff00) = 0x11 ^ 0x4200 =
   * 0x4211; the connection mark stays 0x4200. (Copying the whole ctmark would give 0x4200.)
   */
  @Test
  void connmarkRestore_withNfmaskAndCtmask_onlyMaskedBitsCopied() {
    TraceResult r =
        forward(
            mangle(
                "-j MARK --set-xmark 0x11/0xffffffff",
                "-j CONNMARK --set-xmark 0x4200/0xffffffff",
                "-j CONNMARK --restore-mark --nfmask 0xff00 --ctmask 0xff00",
                "-m mark --mark 0x4211 -m connmark --mark 0x4200 -j DROP"),
            80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.steps())
                  .anyMatch(
                      s ->
                          s.text().contains("--restore-mark")
                              && s.effect().equals("connmark 0x4200, mark 0x4211"));
            });
  }

  /**
   * xt_connmark save: ctmark = (ctmark &amp; ~ctmask) ^ (mark &amp; nfmask). mark 0x11, ctmark
   * 0x4200, nfmask 0xf, ctmask 0xff: (0x4200 &amp; ~0xff) ^ (0x11 &amp; 0xf) = 0x4200 ^ 0x1 =
   * 0x4201. (Copying the whole mark would give 0x11.)
   */
  @Test
  void connmarkSave_withNfmaskAndCtmask_onlyMaskedBitsCopied() {
    TraceResult r =
        forward(
            mangle(
                "-j MARK --set-xmark 0x11/0xffffffff",
                "-j CONNMARK --set-xmark 0x4200/0xffffffff",
                "-j CONNMARK --save-mark --nfmask 0xf --ctmask 0xff",
                "-m mark --mark 0x11 -m connmark --mark 0x4201 -j DROP"),
            80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.DROP));
  }

  /**
   * CONNMARK --restore-mark --mask M sets both masks (libxt_CONNMARK): mark 0xf0f, ctmark 0xabc, M
   * 0xff: (0xf0f &amp; ~0xff) ^ (0xabc &amp; 0xff) = 0xf00 ^ 0xbc = 0xfbc.
   */
  @Test
  void connmarkRestore_withMask_bothMasksApplied() {
    TraceResult r =
        forward(
            mangle(
                "-j MARK --set-xmark 0xf0f/0xffffffff",
                "-j CONNMARK --set-xmark 0xabc/0xffffffff",
                "-j CONNMARK --restore-mark --mask 0xff",
                "-m mark --mark 0xfbc -j DROP"),
            80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.verdict()).isEqualTo(Verdict.DROP));
  }

  /**
   * nf_nat_masquerade_ipv4 passes --to-ports on as the source port range; 40000 is outside
   * 2000-2000, so nf_nat_l4proto_unique_tuple tries min + off % 1 = 2000.
   */
  @Test
  void masquerade_toPorts_sourcePortMovedIntoTheRange() {
    TraceResult r = forward(nat("POSTROUTING", "-o eth0 -j MASQUERADE --to-ports 2000"), 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.masquerade()).isTrue();
              assertThat(o.snat()).isEqualTo("192.168.0.2:2000");
            });
  }

  /**
   * get_unique_tuple leaves a destination port that is already inside the range (and unique) alone;
   * one outside it gets the range's first port (offset 0 for a destination without --random).
   */
  @Test
  void dnat_portRange_portInsideKeptOutsideMovedToFirst() {
    String rules = nat("PREROUTING", "-j DNAT --to-destination 10.0.2.8:8080-8090");
    assertThat(forward(rules, 8085).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.2.8:8085"));
    assertThat(forward(rules, 80).outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.2.8:8080"));
  }

  /**
   * get_unique_tuple for a source: a tuple already in_range (address in 10.0.1.0-10.0.1.9, port in
   * 39990-40010) and unused is left alone, so 10.0.1.5:40000 stays (not the range's first 10.0.1.0
   * and 39990).
   */
  @Test
  void snat_sourceAlreadyInTheRange_kept() {
    TraceResult r =
        forward(nat("POSTROUTING", "-j SNAT --to-source 10.0.1.0-10.0.1.9:39990-40010"), 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.snat()).isEqualTo("10.0.1.5:40000"));
  }

  /** REDIRECT's port range is a destination range too: 15005 is inside 15001-15010 and stays. */
  @Test
  void redirect_portRangeHoldingThePort_portKept() {
    TraceResult r =
        forward(
            nat("PREROUTING", "-m tcp --dport 15005 -j REDIRECT --to-ports 15001-15010"), 15005);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.1.1:15005"));
  }

  /**
   * nf_nat_redirect_ipv4 takes the incoming device's first address (ifa_list), not the one nearest
   * the source: with cni0 holding 10.0.3.1/24 before 10.0.1.1/24, a packet from 10.0.1.5 is
   * redirected to 10.0.3.1.
   */
  @Test
  void redirect_deviceWithTwoAddresses_firstAddressWhateverTheSource() {
    String addr =
        TracerTest.ADDR.replace(
            "\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.1.1\"",
            "\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.0.3.1\",\"prefixlen\":24},"
                + "{\"family\":\"inet\",\"local\":\"10.0.1.1\"");
    assertThat(addr).contains("10.0.3.1");
    String routes =
        TracerTest.ROUTES
            + "10.0.3.0/24 dev cni0 proto kernel scope link src 10.0.3.1\n"
            + "local 10.0.3.1 dev cni0 table local proto kernel scope host src 10.0.3.1\n";
    NodeState n =
        TraceNodes.node(
            nat("PREROUTING", "-j REDIRECT --to-ports 15001"),
            Map.of("ip-addr.json", addr, "ip-route.json", routes));
    TraceResult r =
        new Tracer(n).trace(new PacketSpec("10.0.1.5", 40000, "10.0.2.7", 80, "tcp", "cni0"));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.dnat()).isEqualTo("10.0.3.1:15001"));
  }

  /** nf_nat_redirect_ipv4: no address on the incoming device, "if (!newdst.ip) return NF_DROP". */
  @Test
  void redirect_deviceWithoutAddress_dropped() {
    String addr =
        TracerTest.ADDR.replace(
            "{\"ifname\":\"kube-ipvs0\"",
            "{\"ifname\":\"eth1\",\"flags\":[\"UP\"],\"addr_info\":[]},{\"ifname\":\"kube-ipvs0\"");
    assertThat(addr).contains("eth1");
    NodeState n =
        TraceNodes.node(
            nat("PREROUTING", "-j REDIRECT --to-ports 15001"), Map.of("ip-addr.json", addr));
    TraceResult r =
        new Tracer(n).trace(new PacketSpec("10.0.2.9", 40000, "10.0.2.7", 80, "tcp", "eth1"));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.DROP);
              assertThat(o.dnat()).isNull();
            });
  }
}
