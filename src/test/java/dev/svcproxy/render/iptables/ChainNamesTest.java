package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ChainNamesTest {
  @Test
  void names_upstreamExamples_matchUpstreamHashes() {
    assertThat(ChainNames.svc("ns1/svc1:p80", "tcp")).isEqualTo("KUBE-SVC-XPGD46QRK7WJZT7O");
    assertThat(ChainNames.sep("ns1/svc1:p80", "tcp", "10.180.0.1:80"))
        .isEqualTo("KUBE-SEP-SXIVWICOYRO3J4NJ");
    assertThat(ChainNames.ext("ns2/svc2:p80", "tcp")).isEqualTo("KUBE-EXT-GNZBNJ2PO5MGZ6GT");
    assertThat(ChainNames.svl("ns3/svc3:p80", "tcp")).isEqualTo("KUBE-SVL-X27LE4BHSL4DOUIK");
    assertThat(ChainNames.fw("ns5/svc5:p80", "tcp")).isEqualTo("KUBE-FW-NUKIZ6OKUXPJNT4C");
  }

  @Test
  void names_differentProtocol_differentHash() {
    assertThat(ChainNames.svc("ns1/svc1:p80", "udp"))
        .isNotEqualTo(ChainNames.svc("ns1/svc1:p80", "tcp"));
    assertThat(ChainNames.svc("a/b:c", "tcp")).hasSize(25);
  }

  @Test
  void isServiceChain_prefixes() {
    assertThat(ChainNames.isServiceChain("KUBE-SEP-ABC")).isTrue();
    assertThat(ChainNames.isServiceChain("KUBE-SERVICES")).isFalse();
    assertThat(ChainNames.isServiceChain("KUBE-MARK-MASQ")).isFalse();
  }

  @Test
  void probability_formatsAsGoPercent010f() {
    assertThat(IptablesRenderer.probability(3)).isEqualTo("0.3333333333");
    assertThat(IptablesRenderer.probability(2)).isEqualTo("0.5000000000");
    assertThat(IptablesRenderer.probability(7)).isEqualTo("0.1428571429");
  }
}
