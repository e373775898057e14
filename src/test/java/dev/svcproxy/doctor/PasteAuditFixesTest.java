package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Real pastes from GitHub issues the audit of 2026-11-27 ran the doctor on (audit12 defects 5, 7,
 * 11, 12, 13 and the kubectl-table policy assumption), verbatim. Expected values are read off the
 * pasted lines by hand, as written beside each assertion.
 */
class PasteAuditFixesTest {
  /** An audit input verbatim (trailing blanks kept), from src/test/resources/paste-audit/. */
  private static String fixture(String name) {
    try (var in = PasteAuditFixesTest.class.getResourceAsStream("/paste-audit/" + name)) {
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static DoctorInput input(String name, String text) {
    return DoctorInputs.paste(List.of(new PastedInput.Source(name, text)), Optional.empty());
  }

  private static DoctorReport paste(String name, String text) {
    return Doctor.standard().examine(input(name, text));
  }

  /** kubernetes/website#2499: two chains listed with -n -v, no prompt. */
  static final String P15 = fixture("p15-website-2499-chains.txt");

  @Test
  void listingEvidence_citesThePastedLine() {
    DoctorReport r = paste("p15.txt", P15);
    Finding f =
        r.findings().stream()
            .filter(x -> x.id().equals("etp-local-no-local-endpoints"))
            .findFirst()
            .orElseThrow();
    // Line 7 lists KUBE-XLB's KUBE-MARK-DROP rule, line 3 KUBE-NODEPORTS' jump to it.
    assertThat(f.evidence())
        .extracting(Evidence::where)
        .containsExactlyInAnyOrder("p15.txt:7", "p15.txt:3");
    assertThat(f.evidence())
        .extracting(Evidence::text)
        .anyMatch(
            t -> t.startsWith("-A KUBE-XLB-XP7QDA4CRQ2QA33W ") && t.endsWith("-j KUBE-MARK-DROP"));
  }

  /** kubernetes#108718: `iptables -vL` without -n ("anywhere", "any"), two-space root prompt. */
  static final String P02 = fixture("p02-k8s-108718-iptables-vL.txt");

  @Test
  void listingWithoutN_anywhereIsEveryAddress_anyIsEveryInterface() {
    DoctorInput in = input("p02.txt", P02);
    // "anywhere" is 0.0.0.0/0 and "any" a wildcard interface: nothing in these five rules is a
    // value the reader cannot take, so no warning names a CIDR or a name.
    assertThat(in.warnings()).noneMatch(w -> w.contains("anywhere/32"));
    assertThat(in.warnings()).noneMatch(w -> w.contains("not resolved"));
    // The prompt names -t filter (line 1): no guess of the table.
    assertThat(in.warnings()).noneMatch(w -> w.contains("no table named"));
    var filter = in.node().iptables().get(0).table("filter").orElseThrow();
    // Line 4: "KUBE-FIREWALL all -- any any anywhere anywhere" is a bare jump.
    assertThat(filter.rules("INPUT").get(0).print()).isEqualTo("-A INPUT -j KUBE-FIREWALL");
    assertThat(filter.rules("FORWARD")).hasSize(2);
  }

  @Test
  void listingWithoutN_hostNames_oneWarningForTheBlock() {
    // p02 with names in the source column of two rules, as -L without -n prints resolved hosts.
    String[] l = P02.split("\n", -1);
    l[3] = l[3].replaceFirst("anywhere", "node-a.example");
    l[4] = l[4].replaceFirst("anywhere", "node-b.example");
    String text = String.join("\n", l);
    DoctorInput in = input("p02.txt", text);
    assertThat(in.warnings().stream().filter(w -> w.contains("names not resolved")))
        .hasSize(1)
        .allMatch(
            w -> w.startsWith("p02.txt:4: listing without -n") && w.contains("iptables -L -n -v"));
  }

  /** kubeadm#1461: a grepped `iptables-save -c` fragment of nat (IPVS mode), no table header. */
  static final String P12 = fixture("p12-kubeadm-1461-counters.txt");

  @Test
  void groupedFragment_kubeFirewallJumpingToMarkDrop_isNat() {
    DoctorInput in = input("p12.txt", P12);
    // Line 14 "-A KUBE-FIREWALL -j KUBE-MARK-DROP": a jump stays in its table and KUBE-MARK-DROP is
    // nat's (line 16), so KUBE-FIREWALL here is IPVS mode's nat chain.
    assertThat(in.warnings())
        .anyMatch(
            w -> w.startsWith("p12.txt:14:") && w.contains("KUBE-FIREWALL read as table nat"));
    var rs = in.node().iptables().get(0);
    assertThat(rs.table("nat").orElseThrow().rules("KUBE-FIREWALL")).hasSize(1);
    assertThat(rs.table("filter").flatMap(t -> t.rules("KUBE-FIREWALL").stream().findAny()))
        .isEmpty();
  }

  /** The audit's p19: `# iptables -vL -t nat` with two blanks after the root prompt. */
  static final String P19 = fixture("p19-two-space-prompt.txt");

  @Test
  void twoSpaceRootPrompt_namesTheTable() {
    DoctorInput in = input("p19.txt", P19);
    assertThat(in.warnings()).noneMatch(w -> w.contains("no table named"));
    assertThat(
            in.node()
                .iptables()
                .get(0)
                .table("nat")
                .orElseThrow()
                .rules("KUBE-XLB-XP7QDA4CRQ2QA33W"))
        .hasSize(1);
  }

  /** kubernetes#95258: a gentoo root prompt "HOSTNAME ~ # conntrack -L ...". */
  static final String P10 = fixture("p10-k8s-95258-conntrack.txt");

  @Test
  void gentooPrompt_isAPrompt_fourConntrackEntriesRead() {
    DoctorInput in = input("p10.txt", P10);
    assertThat(in.warnings()).noneMatch(w -> w.contains("entry skipped"));
    // Lines 4-7: four UDP entries to 10.142.0.25:8125.
    assertThat(in.node().conntrack()).hasSize(4);
  }

  /** kubernetes#11634: `iptables -t nat -L -n -v` failed without sudo, then ran with it. */
  static final String P03 = fixture("p03-k8s-11634-sudo-nat.txt");

  @Test
  void failedCommand_errorMessageIsNotABlock() {
    PastedInput.Split s = PastedInput.split(List.of(new PastedInput.Source("p03.txt", P03)));
    // Lines 1-3: the prompt, iptables' error and its hint; the output starts at line 4's prompt.
    assertThat(s.blocks()).hasSize(1);
    assertThat(s.blocks().get(0).numbers().get(0)).isEqualTo(4);
    assertThat(s.unrecognised()).anyMatch(u -> u.startsWith("p03.txt:1-3: the command failed"));
  }

  /** projectcalico/calico#3258: prompts of k8s-1, k8s-6 and k8s-4 in one paste. */
  static final String P05 = fixture("p05-calico-3258-mixed.txt");

  @Test
  void promptsOfDifferentHosts_warnedWithTheirLines() {
    DoctorInput in = input("p05.txt", P05);
    assertThat(in.warnings())
        .anyMatch(
            w ->
                w.startsWith("p05.txt:1: the input mixes hosts")
                    && w.contains("k8s-1 (lines 1, 4, 7)")
                    && w.contains("k8s-6 (line 11)")
                    && w.contains("k8s-4 (line 17)"));
  }

  @Test
  void promptsOfOneHost_noWarning() {
    DoctorInput in = input("p03.txt", P03);
    assertThat(in.warnings()).noneMatch(w -> w.contains("mixes hosts"));
  }

  @Test
  void kubectlTable_trafficPoliciesUnknown() {
    DoctorReport r = paste("p05.txt", P05);
    assertThat(r.assumptions()).anyMatch(a -> a.contains("traffic policies unknown"));
  }

  /** kubernetes#72370: `iptables-save`'s filter section, pasted up to KUBE-FIREWALL, no COMMIT. */
  static final String P09 = fixture("p09-k8s-72370-forward-drop.txt");

  @Test
  void saveSectionWithoutCommit_reachingItsLastChain_showsFORWARDWhole() {
    DoctorReport r = paste("p09.txt", P09);
    // Lines 4-11 declare INPUT .. KUBE-FIREWALL; rules follow in that order and lines 25-27 are
    // KUBE-FIREWALL's, the last declared: FORWARD and the DOCKER chains were printed in full.
    assertThat(r.assumptions()).noneMatch(a -> a.contains("not shown whole"));
  }

  @Test
  void saveSectionWithoutCommit_cutBeforeItsLastChain_FORWARDNotWhole() {
    // Cut after line 24 (DOCKER-USER's rule): KUBE-FIREWALL's rules never came, so nothing says
    // the text went past the end of any chain.
    String cut = String.join("\n", java.util.Arrays.copyOf(P09.split("\n", -1), 24)) + "\n";
    DoctorReport r = paste("p09.txt", cut);
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("FORWARD") && a.contains("not shown whole"));
  }
}
