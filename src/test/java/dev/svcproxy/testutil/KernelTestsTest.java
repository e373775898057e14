package dev.svcproxy.testutil;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The kernel-test gate: what it says on a machine that cannot run kernel tests. */
class KernelTestsTest {

  private static RecordingCommandRunner machine(String uid, Predicate<String> fails) {
    return new RecordingCommandRunner(
        c -> {
          if (c.line().equals("id -u")) {
            return new CommandResult(c.argv(), 0, uid + "\n", "");
          }
          return fails.test(c.line())
              ? new CommandResult(c.argv(), 1, "", "mount --make-shared /run/netns failed")
              : new CommandResult(c.argv(), 0, "", "");
        });
  }

  @Test
  void problem_notRoot_failsNamingRootAndTheOptOut() {
    String p = KernelTests.problem("", machine("1000", l -> false));
    assertThat(p).contains("need root").contains("-Dsvcproxy.kernelTests=skip");
    assertThat(p).doesNotStartWith("SKIP");
  }

  @Test
  void problem_netnsCannotBeCreated_failsWithTheKernelsMessage() {
    String p = KernelTests.problem("", machine("0", l -> l.startsWith("ip netns add")));
    assertThat(p).contains("cannot create a network namespace").contains("/run/netns");
  }

  @Test
  void problem_toolMissing_failsNamingIt() {
    String p = KernelTests.problem("", machine("0", l -> l.endsWith(" nfacct")));
    assertThat(p).contains("missing tools [nfacct]").contains("install-test-deps");
  }

  @Test
  void problem_everythingPresent_none() {
    RecordingCommandRunner r = machine("0", l -> false);
    assertThat(KernelTests.problem("", r)).isNull();
    // The probe namespace is removed again.
    assertThat(r.calls()).anyMatch(c -> c.line().startsWith("ip netns del svpcheck"));
  }

  @Test
  void problem_optedOut_skipsWithoutLooking() {
    RecordingCommandRunner r = machine("1000", l -> true);
    assertThat(KernelTests.problem("skip", r)).startsWith("SKIP").contains("NOT tested");
    assertThat(r.calls()).isEmpty();
  }

  @Test
  void problem_misspelledSetting_fails() {
    assertThat(KernelTests.problem("yes", machine("0", l -> false)))
        .doesNotStartWith("SKIP")
        .contains("neither run nor skip");
  }

  @Test
  void ipvsProblem_noProcFileAfterModprobe_failsPointingAtTheVm(@TempDir Path dir) {
    RecordingCommandRunner r = machine("0", l -> true);
    String p = KernelTests.ipvsProblem(r, dir.resolve("ip_vs"));
    assertThat(p).contains("no IPVS").contains("@Tag(\"vm\")").contains("scripts/vm/test");
    assertThat(r.calls()).anyMatch(c -> c.line().equals("modprobe -q ip_vs"));
  }

  @Test
  void ipvsProblem_procFilePresent_none(@TempDir Path dir) throws IOException {
    Path ipvs = Files.createFile(dir.resolve("ip_vs"));
    RecordingCommandRunner r = machine("0", l -> true);
    assertThat(KernelTests.ipvsProblem(r, ipvs)).isNull();
    assertThat(r.calls()).isEmpty();
  }
}
