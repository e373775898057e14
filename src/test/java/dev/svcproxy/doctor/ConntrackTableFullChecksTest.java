package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * conntrack-table-full with the kernel's drop counters ({@code conntrack -S}, bundle file
 * conntrack-stats.txt) beside nf_conntrack_count/max. The stats lines are as conntrack-tools 1.4.7
 * printed them in the kernel VM (6.1) after SYNs were dropped for a full table; the expected sums
 * are the drop= fields added by hand.
 */
class ConntrackTableFullChecksTest {
  private static final String STATS_DROPS =
      "cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=7 early_drop=0 error=0"
          + " search_restart=0 clash_resolve=0 chaintoolong=0 \n"
          + "cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=6 early_drop=0 error=0"
          + " search_restart=0 clash_resolve=0 chaintoolong=0 \n";
  private static final String STATS_QUIET =
      "cpu=0   \tfound=2 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0"
          + " search_restart=0 clash_resolve=0 chaintoolong=0 \n"
          + "cpu=1   \tfound=0 invalid=1 insert=0 insert_failed=0 drop=0 early_drop=0 error=0"
          + " search_restart=0 clash_resolve=0 chaintoolong=0 \n";

  private static String sysctl(long count, long max) {
    return "net.ipv4.ip_forward = 1\n"
        + "net.netfilter.nf_conntrack_count = "
        + count
        + "\nnet.netfilter.nf_conntrack_max = "
        + max
        + "\n";
  }

  private static List<Finding> run(DoctorInput in) {
    return Doctor.standard().examine(in).findings().stream()
        .filter(f -> f.id().equals("conntrack-table-full"))
        .toList();
  }

  private static List<Finding> bundle(long count, long max, String stats) {
    return run(
        DoctorInputs.files(
            Map.of("sysctl.txt", sysctl(count, max), "conntrack-stats.txt", stats),
            Optional.empty()));
  }

  @Test
  void tableFull_dropCounters_errorCitingCountMaxAndEachCpuThatDropped() {
    List<Finding> f = bundle(64, 64, STATS_DROPS);
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    // 7 + 6 drops over the two CPUs.
    assertThat(f.get(0).summary())
        .isEqualTo(
            "conntrack holds 64 of at most 64 entries: the table is full; the kernel dropped 13"
                + " packet(s) it could not track (drop in conntrack -S)");
    assertThat(f.get(0).evidence())
        .containsExactly(
            new Evidence("sysctl.txt:2", "net.netfilter.nf_conntrack_count = 64"),
            new Evidence("sysctl.txt:3", "net.netfilter.nf_conntrack_max = 64"),
            new Evidence("conntrack-stats.txt:1", STATS_DROPS.lines().toList().get(0).strip()),
            new Evidence("conntrack-stats.txt:2", STATS_DROPS.lines().toList().get(1).strip()));
  }

  @Test
  void ninetyFivePercent_withDrops_error() {
    // 243 / 256 = 94.9%: not full now, but the kernel has been dropping.
    List<Finding> f = bundle(243, 256, STATS_DROPS);
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.ERROR);
    assertThat(f.get(0).summary()).contains("(94%)").contains("dropped 13 packet(s)");
  }

  @Test
  void ninetyFivePercent_noDrops_warningWithoutStatsEvidence() {
    List<Finding> f = bundle(243, 256, STATS_QUIET);
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.WARNING);
    assertThat(f.get(0).summary()).doesNotContain("dropped");
    assertThat(f.get(0).evidence()).hasSize(2);
  }

  @Test
  void dropsButCountLow_noFinding() {
    // The counters are cumulative: drops long ago with room now (raised limit) say nothing now.
    assertThat(bundle(64, 65536, STATS_DROPS)).isEmpty();
  }

  @Test
  void earlyDropOnly_citedButNotCountedAsDropped() {
    String stats =
        "cpu=0 found=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=5 error=0"
            + " search_restart=0\n";
    List<Finding> f = bundle(64, 64, stats);
    assertThat(f).singleElement();
    // early_drop: entries evicted to make room; no packet was dropped.
    assertThat(f.get(0).summary()).doesNotContain("dropped");
    assertThat(f.get(0).evidence())
        .contains(new Evidence("conntrack-stats.txt:1", stats.strip()))
        .hasSize(3);
  }

  @Test
  void live_dropCounters_capturedAndCitedByCommand() {
    // A node that answers only sysctl -a and conntrack -S; every other command fails.
    RecordingCommandRunner node =
        new RecordingCommandRunner(
            c ->
                switch (c.line()) {
                  case "sysctl -a" -> new CommandResult(c.argv(), 0, sysctl(64, 64), "");
                  case "conntrack -S" -> new CommandResult(c.argv(), 0, STATS_DROPS, "");
                  default -> new CommandResult(c.argv(), 1, "", "not here");
                });
    List<Finding> f = run(DoctorInputs.live(node, Optional.empty()));
    assertThat(f).singleElement();
    assertThat(f.get(0).evidence())
        .contains(
            Evidence.command(
                "sysctl net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_count = 64"),
            Evidence.command("conntrack -S (line 2)", STATS_DROPS.lines().toList().get(1).strip()));
  }

  @Test
  void bundleDirectory_statsFileIsABundleFile_readAndCited(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("sysctl.txt"), sysctl(64, 64));
    Files.writeString(dir.resolve("conntrack-stats.txt"), STATS_DROPS);
    DoctorReport r = Doctor.standard().examine(DoctorInputs.bundle(dir, Optional.empty()));
    assertThat(r.warnings()).noneMatch(w -> w.contains("conntrack-stats.txt"));
    assertThat(r.findings())
        .filteredOn(f -> f.id().equals("conntrack-table-full"))
        .singleElement()
        .satisfies(f -> assertThat(f.summary()).contains("dropped 13 packet(s)"));
  }
}
