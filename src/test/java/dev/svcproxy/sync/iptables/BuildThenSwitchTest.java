package dev.svcproxy.sync.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Ruleset;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BuildThenSwitchTest {
  private static final ServicePortName A = new ServicePortName("ns", "a", "p", Protocol.TCP);
  private static final ServicePortName B = new ServicePortName("ns", "b", "p", Protocol.TCP);

  /**
   * Two service ports: a (SVC-A with SEP-A1, SEP-A2, all new) and b (SVC-B in the kernel, SEP-B1
   * new); SEP-OLD is stale.
   */
  private static final String INPUT =
      """
      *filter
      :KUBE-SERVICES - [0:0]
      COMMIT
      *nat
      :KUBE-SERVICES - [0:0]
      :KUBE-SVC-A - [0:0]
      :KUBE-SEP-A1 - [0:0]
      :KUBE-SEP-A2 - [0:0]
      :KUBE-SVC-B - [0:0]
      :KUBE-SEP-B1 - [0:0]
      :KUBE-SEP-OLD - [0:0]
      -A KUBE-SERVICES -d 10.0.0.1 -j KUBE-SVC-A
      -A KUBE-SERVICES -d 10.0.0.2 -j KUBE-SVC-B
      -A KUBE-SVC-A -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A1
      -A KUBE-SVC-A -j KUBE-SEP-A2
      -A KUBE-SEP-A1 -j DNAT --to-destination 10.1.0.1:80
      -A KUBE-SEP-A2 -j DNAT --to-destination 10.1.0.2:80
      -A KUBE-SVC-B -j KUBE-SEP-B1
      -A KUBE-SEP-B1 -j DNAT --to-destination 10.1.0.3:80
      -X KUBE-SEP-OLD
      COMMIT
      """;

  private static final Map<String, ServicePortName> OWNERS =
      Map.of(
          "KUBE-SVC-A", A,
          "KUBE-SEP-A1", A,
          "KUBE-SEP-A2", A,
          "KUBE-SVC-B", B,
          "KUBE-SEP-B1", B);

  private static Ruleset input() {
    return IptablesCodec.parseStrict(INPUT, "test");
  }

  @Test
  void plan_smallInput_isOneTransaction() {
    BuildThenSwitch.Plan p =
        BuildThenSwitch.plan(input(), c -> c.equals("KUBE-SVC-B"), () -> OWNERS, 100);
    assertThat(p.single()).isTrue();
    assertThat(p.switchInput().print()).isEqualTo(input().print());
  }

  @Test
  void plan_largeInput_newChainsBuiltPerServiceExistingOnesInTheSwitchStaleDeletedAfter() {
    // 21 lines in all; a's new chains are 7 lines, b's 2: one batch each at 8 lines.
    BuildThenSwitch.Plan p =
        BuildThenSwitch.plan(
            input(), c -> Set.of("KUBE-SVC-B", "KUBE-SEP-OLD").contains(c), () -> OWNERS, 8);
    assertThat(p.single()).isFalse();
    assertThat(p.builds()).hasSize(2);
    assertThat(p.builds().get(0).services()).containsExactly(A);
    assertThat(p.builds().get(0).chains())
        .containsExactly("KUBE-SVC-A", "KUBE-SEP-A1", "KUBE-SEP-A2");
    assertThat(p.builds().get(0).text())
        .isEqualTo(
            """
            *nat
            :KUBE-SVC-A - [0:0]
            :KUBE-SEP-A1 - [0:0]
            :KUBE-SEP-A2 - [0:0]
            -A KUBE-SVC-A -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-A1
            -A KUBE-SVC-A -j KUBE-SEP-A2
            -A KUBE-SEP-A1 -j DNAT --to-destination 10.1.0.1:80
            -A KUBE-SEP-A2 -j DNAT --to-destination 10.1.0.2:80
            COMMIT
            """);
    assertThat(p.builds().get(1).chains()).containsExactly("KUBE-SEP-B1");
    // SVC-B may be referenced already: it is rewritten only in the switch.
    assertThat(p.switchInput().print())
        .isEqualTo(
            """
            *filter
            :KUBE-SERVICES - [0:0]
            COMMIT
            *nat
            :KUBE-SERVICES - [0:0]
            :KUBE-SVC-B - [0:0]
            -A KUBE-SERVICES -d 10.0.0.1 -j KUBE-SVC-A
            -A KUBE-SERVICES -d 10.0.0.2 -j KUBE-SVC-B
            -A KUBE-SVC-B -j KUBE-SEP-B1
            COMMIT
            """);
    assertThat(p.stale()).containsExactly("KUBE-SEP-OLD");
  }

  @Test
  void plan_batchLimit_packsWholeServicesTogether() {
    BuildThenSwitch.Plan p = BuildThenSwitch.plan(input(), c -> false, () -> OWNERS, 19);
    assertThat(p.builds()).hasSize(1);
    assertThat(p.builds().get(0).services()).containsExactlyInAnyOrder(A, B);
    assertThat(p.switchInput().table("nat").orElseThrow().chainDecls())
        .extracting(d -> d.name())
        .containsExactly("KUBE-SERVICES");
  }

  @Test
  void deletions_manyChains_flushEveryChainBeforeDeletingAny() {
    List<String> in = BuildThenSwitch.deletions(List.of("C1", "C2", "C3"), 4);
    assertThat(in)
        .containsExactly(
            "*nat\n:C1 - [0:0]\n:C2 - [0:0]\nCOMMIT\n",
            "*nat\n:C3 - [0:0]\nCOMMIT\n",
            "*nat\n:C1 - [0:0]\n-X C1\nCOMMIT\n",
            "*nat\n:C2 - [0:0]\n-X C2\nCOMMIT\n",
            "*nat\n:C3 - [0:0]\n-X C3\nCOMMIT\n");
    assertThat(BuildThenSwitch.deletions(List.of("C1", "C2"), 100))
        .containsExactly("*nat\n:C1 - [0:0]\n:C2 - [0:0]\n-X C1\n-X C2\nCOMMIT\n");
  }
}
