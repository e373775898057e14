package dev.svcproxy.sync.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Ruleset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SharedChainEditsTest {
  @Test
  void edits_changeInTheMiddle_deletesAndInsertsOnlyBetweenCommonStartAndEnd() {
    List<String> out = new ArrayList<>();
    SharedChainEdits.edits(
        "C",
        List.of("-A C -d 1 -j A", "-A C -d 2 -j B", "-A C -d 3 -j C", "-A C -j LAST"),
        List.of(
            "-A C -d 1 -j A",
            "-A C -d 2 -j B2",
            "-A C -d 3 -j C",
            "-A C -d 4 -j D",
            "-A C -j LAST"),
        out);
    // Applied one after the other to [A, B, C, LAST]: [A, C, LAST], [A, LAST], then
    // [A, B2, LAST], [A, B2, C, LAST], [A, B2, C, D, LAST].
    assertThat(out)
        .containsExactly(
            "-D C 2", "-D C 2", "-I C 2 -d 2 -j B2", "-I C 3 -d 3 -j C", "-I C 4 -d 4 -j D");
  }

  @Test
  void edits_sameRules_nothing() {
    List<String> out = new ArrayList<>();
    SharedChainEdits.edits("C", List.of("-A C -j A"), List.of("-A C -j A"), out);
    assertThat(out).isEmpty();
  }

  @Test
  void print_recordedSharedChain_editedBeforeTheStaleChainsGo() {
    Ruleset applied =
        IptablesCodec.parseStrict(
            """
            *nat
            :KUBE-SERVICES - [0:0]
            :KUBE-SVC-OLD - [0:0]
            -A KUBE-SERVICES -d 10.0.0.1 -j KUBE-SVC-OLD
            -A KUBE-SERVICES -j KUBE-NODEPORTS
            COMMIT
            """,
            "applied");
    Ruleset now =
        IptablesCodec.parseStrict(
            """
            *nat
            :KUBE-SERVICES - [0:0]
            :KUBE-SVC-NEW - [0:0]
            :KUBE-SVC-OLD - [0:0]
            -A KUBE-SERVICES -d 10.0.0.2 -j KUBE-SVC-NEW
            -A KUBE-SVC-NEW -j ACCEPT
            -X KUBE-SVC-OLD
            -A KUBE-SERVICES -j KUBE-NODEPORTS
            COMMIT
            """,
            "now");
    Map<String, List<String>> record = SharedChainEdits.record(applied);
    assertThat(record)
        .containsOnlyKeys("nat KUBE-SERVICES")
        .containsEntry(
            "nat KUBE-SERVICES",
            List.of(
                "-A KUBE-SERVICES -d 10.0.0.1 -j KUBE-SVC-OLD",
                "-A KUBE-SERVICES -j KUBE-NODEPORTS"));
    assertThat(SharedChainEdits.print(now, record))
        .isEqualTo(
            """
            *nat
            :KUBE-SVC-NEW - [0:0]
            :KUBE-SVC-OLD - [0:0]
            -A KUBE-SVC-NEW -j ACCEPT
            -D KUBE-SERVICES 1
            -I KUBE-SERVICES 1 -d 10.0.0.2 -j KUBE-SVC-NEW
            -X KUBE-SVC-OLD
            COMMIT
            """);
  }
}
