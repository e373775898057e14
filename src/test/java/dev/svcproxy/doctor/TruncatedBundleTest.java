package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.Seed000Bundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Audit 12 #2: a bundle's iptables-save.txt cut short (an interrupted copy) must not back findings
 * that rest on the absence of a rule: the table without COMMIT is not shown whole, the cut is
 * recorded as an assumption, and a partial last line is warned about and not read.
 */
class TruncatedBundleTest {
  @TempDir Path dir;

  /** Seed 000's nat table with the masquerade rule kube-proxy --cluster-cidr writes: healthy. */
  private static final String MASQ =
      "-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment \"Kubernetes service cluster ip +"
          + " port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j"
          + " KUBE-MARK-MASQ";

  private static final String HEALTHY =
      Seed000Bundle.FAILING.replace("COMMIT\n", MASQ + "\nCOMMIT\n");

  private DoctorReport examine(String iptables) throws Exception {
    Files.writeString(dir.resolve("ip-addr.json"), Seed000Bundle.ADDR + "\n");
    Files.writeString(dir.resolve("ip-route.txt"), Seed000Bundle.ROUTES);
    Files.writeString(dir.resolve("ipvsadm-save.txt"), Seed000Bundle.SERVICES);
    Files.writeString(dir.resolve("ipset-save.txt"), Seed000Bundle.IPSETS);
    Files.writeString(dir.resolve("sysctl.txt"), "net.ipv4.ip_forward = 1\n");
    Files.writeString(dir.resolve("iptables-save.txt"), iptables);
    return Doctor.standard().examine(DoctorInputs.bundle(dir, Optional.empty()));
  }

  @Test
  void whole_healthy_noFindings() throws Exception {
    // The control: with its masquerade rule (line 23) and COMMIT the node is the audit's m15.
    assertThat(examine(HEALTHY).findings()).isEmpty();
  }

  @Test
  void cutMidRule_noAbsenceFindings_partialLineWarned_cutAssumed() throws Exception {
    // Lines: *nat (1), 4 built-in and 5 custom chains (2-10), 12 rules (11-22), the masquerade
    // rule (23). Cut inside line 23, as the audit's m16: "-m comm" and no line end, no COMMIT.
    String cut = HEALTHY.substring(0, HEALTHY.indexOf(MASQ) + MASQ.indexOf("-m comm") + 7);
    assertThat(cut).endsWith("! -s 10.244.0.0/16 -m comm");
    DoctorReport r = examine(cut);
    // Before: missing-cluster-cidr and vip-as-source, from the masquerade rule the cut removed.
    assertThat(r.findings()).isEmpty();
    assertThat(r.warnings())
        .anyMatch(
            w ->
                w.startsWith("iptables-save.txt:23: the file ends in the middle of this line")
                    && w.endsWith("-m comm"));
    assertThat(r.assumptions())
        .anyMatch(
            a -> a.startsWith("iptables-save.txt: table nat has no COMMIT, the file was cut"));
    assertThat(r.confidence()).isNotEqualTo(DoctorReport.Confidence.HIGH);
    // The cut line is not taken as a rule: KUBE-SERVICES keeps its one whole rule (line 22).
    var nat =
        dev.svcproxy.trace.bundle.BundleReader.read(dir)
            .iptables()
            .get(0)
            .table("nat")
            .orElseThrow();
    assertThat(nat.rules("KUBE-SERVICES")).hasSize(1);
  }

  @Test
  void cutAtLineEnd_noAbsenceFindings_noPartialLine() throws Exception {
    // Cut after line 22 (its line end kept): every line read is whole, but the table is not.
    String cut = HEALTHY.substring(0, HEALTHY.indexOf(MASQ));
    DoctorReport r = examine(cut);
    assertThat(r.findings()).isEmpty();
    assertThat(r.warnings()).noneMatch(w -> w.contains("in the middle of this line"));
    assertThat(r.assumptions()).anyMatch(a -> a.contains("table nat has no COMMIT"));
  }
}
