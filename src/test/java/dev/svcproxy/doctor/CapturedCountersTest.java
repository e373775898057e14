package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Captures save iptables rules with their counters ({@code iptables-save -c}): evidence shows a
 * rule as a person writes it, except where the counters are the point (conntrack-invalid-drop).
 */
class CapturedCountersTest {
  // Line numbers by hand: 1 *filter, 2-4 chains, 5 FORWARD's jump, 6 the INVALID drop, 7 COMMIT.
  private static final String SAVED =
      """
      *filter
      :INPUT ACCEPT [120:7200]
      :FORWARD ACCEPT [31:1860]
      :KUBE-FORWARD - [0:0]
      [31:1860] -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
      [17:1020] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
      COMMIT
      """;

  private static final Map<String, String> FILES =
      Map.of(
          "iptables-save.txt",
          SAVED,
          "sysctl.txt",
          "net.netfilter.nf_conntrack_tcp_be_liberal = 0\n",
          "conntrack.txt",
          "[1700000000.1] tcp 6 10 TIME_WAIT src=10.0.0.1 dst=10.0.0.2\n");

  @Test
  void find_ruleWithCounters_citedAsTheRuleAtItsLine() {
    Evidence e =
        BundleFiles.bundle(FILES)
            .first("iptables-save.txt", l -> l.contains("-j KUBE-FORWARD"))
            .orElseThrow();
    assertThat(e)
        .isEqualTo(
            new Evidence(
                "iptables-save.txt:5",
                "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD"));
    // Live, the same line of the command's output.
    assertThat(BundleFiles.live(FILES).first("iptables-save.txt", l -> l.contains("INVALID")).get())
        .isEqualTo(
            new Evidence(
                "$ iptables-save (line 6)",
                "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"));
  }

  @Test
  void find_chainCountersAndOtherFiles_keptAsWritten() {
    BundleFiles f = BundleFiles.bundle(FILES);
    assertThat(f.first("iptables-save.txt", l -> l.startsWith(":FORWARD")).get().text())
        .isEqualTo(":FORWARD ACCEPT [31:1860]");
    // Only iptables-save's rule counters are left out; a bracket elsewhere is the file's text.
    assertThat(f.first("conntrack.txt", l -> l.contains("tcp")).get().text())
        .startsWith("[1700000000.1] tcp");
  }

  @Test
  void invalidDrop_capturedCounters_evidenceShowsThem() {
    for (boolean live : List.of(false, true)) {
      DoctorInput in = DoctorInputs.files(FILES, Optional.empty());
      if (live) {
        in =
            new DoctorInput(
                in.node(),
                BundleFiles.live(FILES),
                in.facts(),
                in.cluster(),
                in.packet(),
                in.warnings());
      }
      Finding f =
          Doctor.standard().examine(in).findings().stream()
              .filter(x -> x.id().equals("conntrack-invalid-drop"))
              .findFirst()
              .orElseThrow();
      assertThat(f.summary()).startsWith("17 packet(s)");
      assertThat(f.evidence().get(0))
          .isEqualTo(
              new Evidence(
                  live ? "$ iptables-save -c (line 6)" : "iptables-save.txt:6",
                  "[17:1020] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"));
      assertThat(f.fix()).contains("iptables -Z KUBE-FORWARD");
    }
  }
}
