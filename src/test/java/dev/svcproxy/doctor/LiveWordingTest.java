package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.bundle.BundleReader;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Audit 12 #16: on a live node there are no bundle files, so what was missing is named by the
 * command ("no `iptables-save` output"), not by a file the user never had.
 */
class LiveWordingTest {
  private static DoctorReport examine(BundleFiles files, Map<String, String> captured) {
    DoctorInput in =
        new DoctorInput(
            BundleReader.fromFiles(captured),
            files,
            NodeFacts.unknown(),
            Optional.empty(),
            Optional.empty(),
            List.of());
    return Doctor.standard().examine(in);
  }

  @Test
  void live_missingOutputsNamedByCommand_bundle_byFile() {
    // Only sysctl -a answered: iptables-save and ipvsadm printed nothing (not installed).
    Map<String, String> captured = Map.of("sysctl.txt", "net.ipv4.ip_forward = 1\n");
    DoctorReport live = examine(BundleFiles.live(captured), captured);
    assertThat(live.assumptions())
        .contains("no `iptables-save` output: no iptables rules (every chain accepts)")
        .anyMatch(a -> a.startsWith("no `ipvsadm -Sn` output: no IPVS virtual servers"))
        .noneMatch(a -> a.contains("iptables-save.txt") || a.contains("ipvsadm-save.txt"));
    // The same capture as a bundle directory keeps the file names.
    DoctorReport bundle = examine(BundleFiles.bundle(captured), captured);
    assertThat(bundle.assumptions())
        .contains("no iptables-save.txt: no iptables rules (every chain accepts)");
  }

  @Test
  void inLiveWords_longestNameFirst_andMidSentence() {
    assertThat(
            BundleFiles.inLiveWords(
                "no nft-ruleset.json: no nftables rules beyond what iptables-save.txt shows"))
        .isEqualTo(
            "no `nft -a list ruleset` output: no nftables rules beyond what `iptables-save` shows");
    // ip-route.json is not inside ip-route.jsonx (no partial names).
    assertThat(BundleFiles.inLiveWords("ip-route.jsonx")).isEqualTo("ip-route.jsonx");
  }
}
