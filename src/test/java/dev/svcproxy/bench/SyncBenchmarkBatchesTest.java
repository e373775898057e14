package dev.svcproxy.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class SyncBenchmarkBatchesTest {
  // Two services, the first with two endpoints; hand-written in the render's layout.
  private static final String TEXT =
      """
      *filter
      :KUBE-FORWARD - [0:0]
      -A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
      COMMIT
      *nat
      :KUBE-SERVICES - [0:0]
      :KUBE-MARK-MASQ - [0:0]
      :KUBE-SVC-AAA - [0:0]
      :KUBE-SEP-A1 - [0:0]
      :KUBE-SEP-A2 - [0:0]
      :KUBE-SVC-BBB - [0:0]
      :KUBE-SEP-B1 - [0:0]
      -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
      -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-AAA
      -A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-BBB
      -A KUBE-SVC-AAA -m statistic --mode random --probability 0.5 -j KUBE-SEP-A1
      -A KUBE-SVC-AAA -j KUBE-SEP-A2
      -A KUBE-SEP-A1 -s 10.100.0.1/32 -j KUBE-MARK-MASQ
      -A KUBE-SEP-A1 -p tcp -m tcp -j DNAT --to-destination 10.100.0.1:8080
      -A KUBE-SEP-A2 -p tcp -m tcp -j DNAT --to-destination 10.100.0.2:8080
      -A KUBE-SVC-BBB -j KUBE-SEP-B1
      -A KUBE-SEP-B1 -p tcp -m tcp -j DNAT --to-destination 10.100.1.1:8080
      COMMIT
      """;

  @Test
  void batches_oneServicePerBatch_ownChainsFirstSharedChainsLast() {
    List<String> parts = IptablesBenchKernel.batchesOf(TEXT, 1);

    assertThat(parts)
        .containsExactly(
            """
            *nat
            :KUBE-MARK-MASQ - [0:0]
            :KUBE-SVC-AAA - [0:0]
            :KUBE-SEP-A1 - [0:0]
            :KUBE-SEP-A2 - [0:0]
            -A KUBE-SVC-AAA -m statistic --mode random --probability 0.5 -j KUBE-SEP-A1
            -A KUBE-SVC-AAA -j KUBE-SEP-A2
            -A KUBE-SEP-A1 -s 10.100.0.1/32 -j KUBE-MARK-MASQ
            -A KUBE-SEP-A1 -p tcp -m tcp -j DNAT --to-destination 10.100.0.1:8080
            -A KUBE-SEP-A2 -p tcp -m tcp -j DNAT --to-destination 10.100.0.2:8080
            COMMIT
            """,
            """
            *nat
            :KUBE-MARK-MASQ - [0:0]
            :KUBE-SVC-BBB - [0:0]
            :KUBE-SEP-B1 - [0:0]
            -A KUBE-SVC-BBB -j KUBE-SEP-B1
            -A KUBE-SEP-B1 -p tcp -m tcp -j DNAT --to-destination 10.100.1.1:8080
            COMMIT
            """,
            """
            *filter
            :KUBE-FORWARD - [0:0]
            -A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT
            COMMIT
            *nat
            :KUBE-SERVICES - [0:0]
            :KUBE-MARK-MASQ - [0:0]
            -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
            -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-AAA
            -A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-BBB
            COMMIT
            """);
  }

  @Test
  void batches_moreServicesPerBatchThanServices_oneBatchThenTheSwitch() {
    List<String> parts = IptablesBenchKernel.batchesOf(TEXT, 100);

    assertThat(parts).hasSize(2);
    assertThat(parts.get(0))
        .contains(":KUBE-SVC-AAA ", ":KUBE-SVC-BBB ", ":KUBE-SEP-B1 ")
        .doesNotContain("KUBE-SERVICES");
    assertThat(parts.get(1)).doesNotContain("KUBE-SEP-");
  }
}
