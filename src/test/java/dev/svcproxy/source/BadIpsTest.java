package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.States;
import dev.svcproxy.testutil.UpstreamOrder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Upstream's TestBadIPs (pkg/proxy/iptables/proxier_test.go): IPv4 addresses and CIDRs with leading
 * zeros are read as ParseIPSloppy / ParseCIDRSloppy read them and written canonically. Input and
 * expected rules are upstream's, compared after upstream's sortIPTablesRules.
 */
class BadIpsTest {

  @Test
  void render_upstreamBadIpsInputs_equalsUpstreamExpectedText() {
    String rendered =
        OverallRulesTestAccess.renderer()
            .render(States.fromYaml(States.resource("/manifests/bad-ips/input.yaml")))
            .text();
    assertThat(UpstreamOrder.sort(rendered))
        .isEqualTo(UpstreamOrder.sort(States.resource("/manifests/bad-ips/expected.txt")));
  }

  // Rows from the forked Go parser's tests (k8s.io/utils/net, parseIPTests: leading zeros are
  // decimal, issue 100895) and TestIsValidCIDR (host bits and a zero-padded prefix length).
  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
    "172.30.0.041, 172.30.0.41",
    "127.001.002.003, 127.1.2.3",
    "127.007.008.009, 127.7.8.9",
    "127.010.020.030, 127.10.20.30",
    "10.180.00.001, 10.180.0.1",
    "::ffff:127.1.2.3, 127.1.2.3",
  })
  void parseSloppy_leadingZeros_decimalAndCanonical(String in, String out) {
    assertThat(Ip.parseSloppy(in)).isEqualTo(out);
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
    "203.0.113.000/025, 203.0.113.0/25",
    "1.1.01.0/24, 1.1.1.0/24",
    "1.2.3.4/24, 1.2.3.0/24",
    "192.168.0.0/016, 192.168.0.0/16",
  })
  void cidrParseSloppy_leadingZerosAndHostBits_networkInCanonicalForm(String in, String out) {
    assertThat(Cidr.parseSloppy(in).toString()).isEqualTo(out);
  }
}
