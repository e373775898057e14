package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class NodeFactsTest {
  @Test
  void parse_everyField() {
    NodeFacts.Parsed p =
        NodeFacts.parse(
            """
            nodeName: node1
            nodeIPs: [192.168.1.11]
            podCIDRs: [10.244.1.0/24]
            clusterCIDRs: [10.244.0.0/16]
            serviceCIDRs: [10.96.0.0/12]
            proxyMode: ipvs
            proxyArgs: [--proxy-mode=ipvs, --cluster-cidr, 10.244.0.0/16, --masquerade-all]
            """);
    assertThat(p.warnings()).isEmpty();
    NodeFacts f = p.facts();
    assertThat(f.nodeName()).contains("node1");
    assertThat(f.nodeIps()).containsExactly("192.168.1.11");
    assertThat(f.podCidrs()).containsExactly(Cidr.parse("10.244.1.0/24"));
    assertThat(f.clusterCidrs()).containsExactly(Cidr.parse("10.244.0.0/16"));
    assertThat(f.serviceCidrs()).containsExactly(Cidr.parse("10.96.0.0/12"));
    assertThat(f.proxyMode()).contains("ipvs");
    assertThat(f.flag("--proxy-mode")).contains("ipvs");
    assertThat(f.flag("--cluster-cidr")).contains("10.244.0.0/16");
    assertThat(f.flag("--masquerade-all")).contains("true");
    assertThat(f.flag("--hostname-override")).isEmpty();
  }

  @Test
  void parse_badValues_areWarnedWithTheLineAndLeftUnknown() {
    NodeFacts.Parsed p =
        NodeFacts.parse("\nnodeName: n\npodCIDRs: [10.244.1.0/33]\nproxyMode: userspace\nfoo: 1\n");
    assertThat(p.facts().podCidrs()).isEmpty();
    assertThat(p.facts().proxyMode()).isEmpty();
    assertThat(p.facts().nodeName()).contains("n");
    assertThat(p.warnings())
        .anyMatch(w -> w.startsWith("node.yaml:") && w.contains("invalid CIDR \"10.244.1.0/33\""))
        .anyMatch(w -> w.contains("proxyMode"))
        .anyMatch(w -> w.contains("unknown field \"foo\""));
  }

  @Test
  void parse_notAMapping_isAWarning() {
    NodeFacts.Parsed p = NodeFacts.parse("- a\n- b\n");
    assertThat(p.facts()).isEqualTo(NodeFacts.unknown());
    assertThat(p.warnings()).singleElement().asString().contains("expected a mapping");
  }

  @Test
  void flag_unknownArgs_isEmpty() {
    assertThat(NodeFacts.unknown().flag("--cluster-cidr")).isEqualTo(Optional.empty());
    assertThat(NodeFacts.unknown().proxyArgs()).isEmpty();
    assertThat(
            new NodeFacts(
                    Optional.empty(),
                    List.of(),
                    List.of(),
                    List.of(),
                    List.of(),
                    Optional.empty(),
                    Optional.of(List.of()))
                .flag("--cluster-cidr"))
        .isEmpty();
  }
}
