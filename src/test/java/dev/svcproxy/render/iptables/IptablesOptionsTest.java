package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Upstream's iptables NewProxier turns localhostNodePorts off when the IPv4 NodePortAddresses do
 * not ContainsIPv4Loopback (pkg/proxy/util/nodeport_addresses.go: the CIDR's IP is a loopback
 * address, or the CIDR holds 127.0.0.0).
 */
class IptablesOptionsTest {
  private static ProxyConfig cfg(String... cidrs) {
    return ProxyConfig.defaults("node", "192.168.0.2", LocalTrafficDetector.none())
        .withNodePortAddresses(List.of(cidrs).stream().map(Cidr::parse).toList());
  }

  @Test
  void localhostNodePorts_loopbackCidrsWithout127001_stayOn() {
    IptablesOptions on = IptablesOptions.defaults();
    assertThat(on.localhostNodePorts(cfg("127.0.0.2/32"))).isTrue();
    assertThat(on.localhostNodePorts(cfg("127.5.0.0/16"))).isTrue();
    assertThat(on.localhostNodePorts(cfg("127.0.2.0/28"))).isTrue();
    assertThat(on.localhostNodePorts(cfg("64.0.0.0/2"))).isTrue();
  }

  @Test
  void localhostNodePorts_onlyIpv6Cidrs_stayOnAsIpv4MatchesAll() {
    assertThat(IptablesOptions.defaults().localhostNodePorts(cfg("fd00::/64"))).isTrue();
  }

  @Test
  void localhostNodePorts_noLoopbackCidr_turnedOff() {
    assertThat(IptablesOptions.defaults().localhostNodePorts(cfg("128.0.2.0/28", "192.168.0.0/16")))
        .isFalse();
    assertThat(IptablesOptions.defaults().localhostNodePorts(cfg("::/0", "10.0.0.0/8"))).isFalse();
  }

  @Test
  void localhostNodePorts_flagOff_offWhateverTheCidrs() {
    assertThat(IptablesOptions.defaults().withLocalhostNodePorts(false).localhostNodePorts(cfg()))
        .isFalse();
  }
}
