package dev.svcproxy.lab.vm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.RecordingCommandRunner;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How svcproxy finds and drives the kernel VM harness. */
class KernelVmTest {
  @TempDir Path dir;

  @Test
  void argv_awkwardWords_reachTheGuestCommandUnchanged() {
    List<String> command = List.of("printf", "[%s]\\n", "a b", "it's", "$HOME", "", "x;y");
    List<String> argv = KernelVm.argv(Path.of("/r/scripts/vm/run"), command, List.of(dir), 60);
    assertThat(argv.subList(0, 6))
        .containsExactly("/r/scripts/vm/run", "-t", "60", "-w", dir.toString(), "-c");
    // The harness runs its -c string with bash: bash is the oracle for the quoting.
    CommandResult r = new ProcessCommandRunner().run("bash", "-c", argv.get(6));
    assertThat(r.stdout()).isEqualTo("[a b]\n[it's]\n[$HOME]\n[]\n[x;y]\n");
  }

  @Test
  void run_streamsStdoutAndReturnsTheExitCode() {
    StringWriter w = new StringWriter();
    int code =
        KernelVm.run(
            new ProcessCommandRunner(),
            List.of("sh", "-c", "echo one; echo two; exit 7"),
            new PrintWriter(w));
    assertThat(code).isEqualTo(7);
    assertThat(w.toString())
        .isEqualTo("one" + System.lineSeparator() + "two" + System.lineSeparator());
  }

  @Test
  void runScript_fromTheJarInTarget_findsTheCheckoutsHarness() throws IOException {
    Path run = Files.createDirectories(dir.resolve("scripts/vm")).resolve("run");
    Files.createFile(
        run, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    Path jar = Files.createDirectories(dir.resolve("target")).resolve("svcproxy.jar");
    assertThat(KernelVm.runScript(Map.of(), jar)).contains(run);
    assertThat(KernelVm.runScript(Map.of(KernelVm.RUN_SCRIPT_ENV, "/x/run"), jar))
        .contains(Path.of("/x/run"));
    assertThat(KernelVm.runScript(Map.of(), Path.of("/nonexistent/target/classes"))).isEmpty();
  }

  @Test
  void hasIpvs_noProcFile_triesModprobeThenSaysNo() {
    RecordingCommandRunner r =
        new RecordingCommandRunner(c -> new CommandResult(c.argv(), 1, "", ""));
    assertThat(KernelVm.hasIpvs(r, dir.resolve("ip_vs"))).isFalse();
    assertThat(r.calls()).extracting(c -> c.line()).containsExactly("modprobe -q ip_vs");
  }

  @Test
  void hasIpvs_procFilePresent_yesWithoutModprobe() throws IOException {
    RecordingCommandRunner r =
        new RecordingCommandRunner(c -> new CommandResult(c.argv(), 0, "", ""));
    assertThat(KernelVm.hasIpvs(r, Files.createFile(dir.resolve("ip_vs")))).isTrue();
    assertThat(r.calls()).isEmpty();
  }

  @Test
  void inGuest_onlyWithTheHarnessVariable() {
    assertThat(KernelVm.inGuest(Map.of(KernelVm.GUEST_ENV, "1"))).isTrue();
    assertThat(KernelVm.inGuest(Map.of("PATH", "/bin"))).isFalse();
  }
}
