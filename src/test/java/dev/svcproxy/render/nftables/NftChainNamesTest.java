package dev.svcproxy.render.nftables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ServicePortName;
import org.junit.jupiter.api.Test;

/**
 * Upstream's Test_servicePortChainNameBase and Test_servicePortEndpointChainNameBase
 * (pkg/proxy/nftables/proxier_test.go @ 81810de6), plus names from its expected dumps.
 */
class NftChainNamesTest {
  private static final String LONG_NS =
      "very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx";
  private static final String LONG_SVC =
      "very-long-service-name-why-would-you-even-do-this-i-mean-really";
  private static final String LONG_PORT =
      "port-443-providing-the-hypertext-transmission-protocol-with-tls";

  private static ServicePortName spn(String ns, String name, String port) {
    return new ServicePortName(ns, name, port, Protocol.TCP);
  }

  @Test
  void servicePortBase_upstreamCases_equalUpstreamNames() {
    assertThat(NftChainNames.servicePortBase(spn("testing", "service", "http"), "tcp"))
        .isEqualTo("P4ZYZVCF-testing/service/tcp/http");
    assertThat(NftChainNames.servicePortBase(spn("testing", "service", "https"), "tcp"))
        .isEqualTo("LZBRENCP-testing/service/tcp/https");
    assertThat(NftChainNames.servicePortBase(spn(LONG_NS, LONG_SVC, LONG_PORT), "sctp"))
        .isEqualTo("KR6NACJP-" + LONG_NS + "/" + LONG_SVC + "/sctp/" + LONG_PORT);
  }

  @Test
  void servicePortBase_namesInUpstreamDumps_equalUpstreamNames() {
    assertThat(NftChainNames.servicePortBase(spn("ns1", "svc1", "p80"), "tcp"))
        .isEqualTo("ULMVA6XW-ns1/svc1/tcp/p80");
    assertThat(NftChainNames.servicePortBase(spn("ns2", "svc2", "p8080"), "tcp"))
        .isEqualTo("MHHHYRWA-ns2/svc2/tcp/p8080");
    assertThat(NftChainNames.servicePortBase(spn("ns5", "svc5", "p80"), "tcp"))
        .isEqualTo("HVFWP5L3-ns5/svc5/tcp/p80");
  }

  @Test
  void endpointBase_upstreamCases_equalUpstreamNames() {
    ServicePortName s = spn("testing", "service", "http");
    assertThat(NftChainNames.endpointBase(s, "tcp", "10.180.0.1:80"))
        .isEqualTo("JO2XBXZR-testing/service/tcp/http__10.180.0.1/80");
    assertThat(NftChainNames.endpointBase(s, "tcp", "10.180.0.2:80"))
        .isEqualTo("5S6H3H22-testing/service/tcp/http__10.180.0.2/80");
    assertThat(NftChainNames.endpointBase(s, "tcp", "[fd80:abcd:12::a1b2:c3d4:e5f6:9999]:80"))
        .isEqualTo("U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80");
  }

  @Test
  void endpointBase_longNames_truncatedAsUpstream() {
    ServicePortName s = spn(LONG_NS, LONG_SVC, LONG_PORT);
    String prefix = LONG_NS + "/" + LONG_SVC + "/sctp/" + LONG_PORT + "__";
    assertThat(NftChainNames.endpointBase(s, "sctp", "[1234:5678:9abc:def0::abc:1234]:443"))
        .isEqualTo("5YS7AFEA-" + prefix + "1234.5678.9abc.def0..abc.1234/443");
    String truncated1 =
        NftChainNames.endpointBase(s, "sctp", "[1234:5678:9abc:def0::abcd:1234:5678]:443");
    assertThat(truncated1).isEqualTo("CI6C53Q3-" + prefix + "1234.5678.9abc.def0..abcd.1234...");
    assertThat(truncated1).hasSize(240);
    assertThat(NftChainNames.endpointBase(s, "sctp", "[1234:5678:9abc:def0::abcd:1234:8765]:443"))
        .isEqualTo("2FLXFK6X-" + prefix + "1234.5678.9abc.def0..abcd.1234...");
  }

  @Test
  void endpointBase_namesInUpstreamDumps_equalUpstreamNames() {
    assertThat(NftChainNames.endpointBase(spn("ns1", "svc1", "p80"), "tcp", "10.180.0.1:80"))
        .isEqualTo("5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80");
    assertThat(NftChainNames.endpointBase(spn("ns5", "svc5", "p80"), "tcp", "10.180.0.3:80"))
        .isEqualTo("GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80");
  }

  @Test
  void isServiceChain_slashInName_true() {
    assertThat(NftChainNames.isServiceChain("service-ULMVA6XW-ns1/svc1/tcp/p80")).isTrue();
    assertThat(NftChainNames.isServiceChain("service-endpoints-check")).isFalse();
    assertThat(NftChainNames.isAffinitySet("affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"))
        .isTrue();
    assertThat(NftChainNames.isAffinitySet("cluster-ips")).isFalse();
  }
}
