package dev.svcproxy.doctor.checks;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.DoctorInputs;
import dev.svcproxy.doctor.PastedInput;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * InputCoverage's "whole table" for a pasted save section that ends without COMMIT (seed 000's
 * paste): taken as whole only by a check that opts in, only when nothing filtered or cut it, and
 * then said as assumed.
 */
class InputCoverageUncutTest {
  private static final String NAT =
      "*nat\n"
          + "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
          + "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n";

  private static DoctorContext ctx(String text) {
    return new DoctorContext(
        DoctorInputs.paste(List.of(new PastedInput.Source("i.txt", text)), Optional.empty()));
  }

  @Test
  void table_natWithoutCommit_wholeOnlyWhenAskedAndAssumed() {
    DoctorContext c = ctx(NAT);
    InputCoverage cov = InputCoverage.of(c);
    assertThat(cov.table("iptables-save.txt", "nat")).isFalse();
    assertThat(c.assumptions()).noneMatch(a -> a.contains("without COMMIT"));
    assertThat(cov.table("iptables-save.txt", "nat", true)).isTrue();
    assertThat(c.assumptions()).anyMatch(a -> a.contains("*nat section ends without COMMIT"));
    assertThat(cov.table("iptables-save.txt", "filter", true)).isFalse();
  }

  @Test
  void table_natWithoutCommitUnderAPipe_notWhole() {
    DoctorContext c = ctx("$ iptables-save | grep -A3 nat\n" + NAT);
    assertThat(InputCoverage.of(c).table("iptables-save.txt", "nat", true)).isFalse();
  }

  @Test
  void table_natWithoutCommitBesideAFragment_notWhole() {
    // A rule outside any section before it: the paste was cut, the section may be too.
    DoctorContext c = ctx("-A KUBE-SERVICES -j KUBE-NODEPORTS\n\n" + NAT);
    assertThat(InputCoverage.of(c).table("iptables-save.txt", "nat", true)).isFalse();
  }

  @Test
  void table_natWithCommit_wholeWithoutAssumption() {
    DoctorContext c = ctx(NAT + "COMMIT\n");
    assertThat(InputCoverage.of(c).table("iptables-save.txt", "nat", true)).isTrue();
    assertThat(c.assumptions()).noneMatch(a -> a.contains("without COMMIT"));
  }
}
