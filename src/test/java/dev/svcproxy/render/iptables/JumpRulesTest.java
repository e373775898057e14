package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.TableRule;
import org.junit.jupiter.api.Test;

class JumpRulesTest {
  @Test
  void kubeProxy_jumps_upstreamsRulesInItsOrder() {
    // Upstream's iptablesJumpChains (pkg/proxy/iptables/proxier.go), in that order, with
    // "-m conntrack --ctstate NEW" where upstream passes it ahead of the comment.
    assertThat(JumpRules.KUBE_PROXY.stream().map(TableRule::toString))
        .containsExactly(
            "filter -A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
            "filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES",
            "filter -A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS",
            "filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "filter -A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "filter -A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
            "filter -A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
            "filter -A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
            "filter -A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL",
            "nat -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "nat -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "nat -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING");
    assertThat(JumpRules.KUBELET.stream().map(TableRule::toString))
        .containsExactly("filter -A INPUT -j KUBE-FIREWALL", "filter -A OUTPUT -j KUBE-FIREWALL");
  }
}
