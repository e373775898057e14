package dev.svcproxy.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * --nodeport-addresses as upstream's NewNodePortAddresses(IPv4, ...) reads them: the IPv4 cases of
 * pkg/proxy/util/nodeport_addresses_test.go, transcribed with their expected values.
 */
class ProxyConfigTest {

  private static ProxyConfig withNodePortAddresses(List<String> cidrs) {
    return ProxyConfig.defaults("node", "10.20.30.51", LocalTrafficDetector.none())
        .withNodePortAddresses(cidrs.stream().map(Cidr::parse).toList());
  }

  /** TestGetNodeAddresses, IPv4 family: name, cidrs, interface addresses, matchAll, IPv4 ips. */
  static Stream<Arguments> getNodeAddresses() {
    return Stream.of(
        Arguments.of(
            "IPv4 single",
            List.of("10.20.30.0/24"),
            List.of("10.20.30.51", "100.200.201.1"),
            false,
            List.of("10.20.30.51")),
        Arguments.of(
            "IPv4 zero CIDR",
            List.of("0.0.0.0/0"),
            List.of("10.20.30.51", "127.0.0.1"),
            true,
            List.of("10.20.30.51", "127.0.0.1")),
        Arguments.of(
            "IPv6 multiple", List.of("2001:db8::/64", "::1/128"), List.of(), true, List.of()),
        Arguments.of("IPv6 zero CIDR", List.of("::/0"), List.of(), true, List.of()),
        Arguments.of(
            "IPv4 localhost exact",
            List.of("127.0.0.1/32"),
            List.of("10.20.30.51", "127.0.0.1"),
            false,
            List.of("127.0.0.1")),
        Arguments.of(
            "IPv4 localhost subnet",
            List.of("127.0.0.0/8"),
            List.of("127.0.1.1"),
            false,
            List.of("127.0.1.1")),
        Arguments.of(
            "IPv4 multiple",
            List.of("10.20.30.0/24", "100.200.201.0/24"),
            List.of("10.20.30.51", "100.200.201.1"),
            false,
            List.of("10.20.30.51", "100.200.201.1")),
        Arguments.of(
            "IPv4 multiple, no match",
            List.of("10.20.30.0/24", "100.200.201.0/24"),
            List.of("192.168.1.2", "127.0.0.1"),
            false,
            List.of()),
        Arguments.of(
            "empty list, IPv4 addrs",
            List.of(),
            List.of("192.168.1.2", "127.0.0.1"),
            true,
            List.of("192.168.1.2", "127.0.0.1")),
        Arguments.of(
            "IPv4 redundant CIDRs",
            List.of("1.2.3.0/24", "0.0.0.0/0"),
            List.of("1.2.3.4"),
            true,
            List.of("1.2.3.4")),
        Arguments.of(
            "Dual-stack, redundant IPv4",
            List.of("0.0.0.0/0", "1.2.3.0/24", "2001:db8::1/128"),
            List.of("1.2.3.4", "127.0.0.1"),
            true,
            List.of("1.2.3.4", "127.0.0.1")),
        Arguments.of(
            "Dual-stack, redundant IPv6",
            List.of("::/0", "1.2.3.0/24", "2001:db8::1/128"),
            List.of("1.2.3.4", "127.0.0.1"),
            false,
            List.of("1.2.3.4")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("getNodeAddresses")
  void nodePortAddresses_upstreamGetNodeAddressesCase_matchAllAndIpsAsUpstream(
      String name, List<String> cidrs, List<String> addrs, boolean matchAll, List<String> ips) {
    ProxyConfig cfg = withNodePortAddresses(cidrs);
    assertThat(cfg.nodePortsMatchAll()).as("MatchAll").isEqualTo(matchAll);
    assertThat(cfg.nodePortIPs(addrs)).containsExactlyInAnyOrderElementsOf(ips);
  }

  /** TestContainsIPv4Loopback, IPv4 family. */
  static Stream<Arguments> containsIpv4Loopback() {
    return Stream.of(
        Arguments.of("empty", List.of(), true),
        Arguments.of(
            "all zeros ipv4",
            List.of("224.0.0.0/24", "192.168.0.0/16", "fd00:1:d::/64", "0.0.0.0/0"),
            true),
        Arguments.of(
            "all zeros ipv6",
            List.of("224.0.0.0/24", "192.168.0.0/16", "fd00:1:d::/64", "::/0"),
            false),
        Arguments.of(
            "ipv4 loopback",
            List.of("224.0.0.0/24", "192.168.0.0/16", "fd00:1:d::/64", "127.0.0.0/8"),
            true),
        Arguments.of(
            "ipv6 loopback",
            List.of("224.0.0.0/24", "192.168.0.0/16", "fd00:1:d::/64", "::1/128"),
            false),
        Arguments.of(
            "ipv4 loopback smaller range",
            List.of("224.0.0.0/24", "192.168.0.0/16", "fd00:1:d::/64", "127.0.2.0/28"),
            true),
        Arguments.of(
            "ipv4 loopback within larger range",
            List.of("224.0.0.0/24", "192.168.0.0/16", "fd00:1:d::/64", "64.0.0.0/2"),
            true),
        Arguments.of(
            "non loop loopback",
            List.of("128.0.2.0/28", "224.0.0.0/24", "192.168.0.0/16", "fd00:1:d::/64"),
            false),
        // From the brief's reading of the same code (cidr.IP.IsLoopback()): a loopback address
        // other than 127.0.0.1, and a loopback subnet that does not hold 127.0.0.1.
        Arguments.of("loopback host not 127.0.0.1", List.of("127.0.0.2/32"), true),
        Arguments.of("loopback subnet without 127.0.0.1", List.of("127.5.0.0/16"), true),
        Arguments.of("IPv6 only falls back to 0.0.0.0/0", List.of("fd00::/64"), true));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("containsIpv4Loopback")
  void nodePortsContainIpv4Loopback_upstreamCase_asUpstream(
      String name, List<String> cidrs, boolean want) {
    assertThat(withNodePortAddresses(cidrs).nodePortsContainIpv4Loopback()).isEqualTo(want);
  }
}
