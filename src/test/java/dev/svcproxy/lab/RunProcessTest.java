package dev.svcproxy.lab;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.testutil.KernelTests;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * `svcproxy run` as a process in a lab node: one per network namespace, and SIGTERM ends it with
 * exit 0 and the rules in place. The process is `ip netns exec NS java ...`; ip execs java, so the
 * pid we signal is the JVM's own (checked, not assumed).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RunProcessTest {
  private Lab lab;
  private Lab.Node node;
  private Path manifests;
  private Path lockFile;
  private final List<Run> runs = new ArrayList<>();

  /** One started run: its process and its two output files. */
  private record Run(Process process, Path stdout, Path stderr) {
    String err() {
      return read(stderr);
    }

    String out() {
      return read(stdout);
    }

    private static String read(Path p) {
      try {
        return Files.readString(p);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /**
     * Waits until the output holds {@code text}; false if the process died or time ran out. Both
     * streams count here: which one logs go to is asserted on its own.
     */
    boolean awaitLog(String text, long seconds) throws InterruptedException {
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      while (System.nanoTime() < end) {
        if (err().contains(text) || out().contains(text)) {
          return true;
        }
        if (!process.isAlive()) {
          return err().contains(text) || out().contains(text);
        }
        Thread.sleep(50);
      }
      return false;
    }
  }

  @BeforeAll
  void start() throws Exception {
    KernelTests.require("lab tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.node("node1");
    manifests = Files.createDirectories(lab.workDir().resolve("run-process-manifests"));
    Files.copy(resource("/golden/overall/input.yaml"), manifests.resolve("overall.yaml"));
    String inode =
        lab.in(node.netns(), "readlink", "/proc/self/ns/net")
            .orThrow()
            .stdout()
            .replaceAll("\\D", "");
    lockFile = Path.of("/run/svcproxy", "net-" + inode + ".lock");
  }

  @AfterEach
  void killLeftovers() throws InterruptedException {
    for (Run r : runs) {
      if (r.process().isAlive()) {
        r.process().destroyForcibly();
        r.process().waitFor(10, TimeUnit.SECONDS);
      }
    }
    runs.clear();
  }

  @AfterAll
  void stop() throws IOException {
    if (lockFile != null) {
      // Every run here is dead by now; the namespace goes next, so its lock file goes too.
      Files.deleteIfExists(lockFile);
    }
    if (lab != null) {
      lab.close();
    }
  }

  private static Path resource(String name) throws URISyntaxException {
    return Path.of(RunProcessTest.class.getResource(name).toURI());
  }

  private Run startRun() throws IOException {
    List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", node.netns()));
    argv.addAll(ProxyProcess.javaCommand());
    argv.addAll(
        List.of(
            "run",
            "--manifests",
            manifests.toString(),
            "--node-name",
            "test-node",
            "--node-ip",
            node.ip(),
            "--cluster-cidr",
            Lab.CLUSTER_CIDR));
    int n = runs.size();
    Path out = lab.workDir().resolve("run-" + n + ".out");
    Path err = lab.workDir().resolve("run-" + n + ".err");
    Process p =
        new ProcessBuilder(argv)
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
            .start();
    Run r = new Run(p, out, err);
    runs.add(r);
    return r;
  }

  private Run startSynced() throws Exception {
    Run r = startRun();
    assertThat(r.awaitLog("synced iptables", 60)).as(r.err()).isTrue();
    // ip execs java in place: the pid we hold (and will signal) is the JVM's.
    assertThat(ProcessHandle.of(r.process().pid()).flatMap(h -> h.info().command()))
        .hasValueSatisfying(c -> assertThat(c).endsWith("/java"));
    return r;
  }

  private void sigterm(Run r) {
    lab.runner().run("kill", "-TERM", Long.toString(r.process().pid())).orThrow();
  }

  private String natRules() {
    return lab.in(node.netns(), "iptables-save", "-t", "nat").stdout();
  }

  @Test
  void secondRun_inTheSameNetworkNamespace_exitsTwoNamingTheFirstsPid() throws Exception {
    Run first = startSynced();
    Run second = startRun();
    assertThat(second.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(second.process().exitValue()).as(second.err()).isEqualTo(2);
    assertThat(second.err().strip().lines()).hasSize(1);
    assertThat(second.err())
        .contains("another svcproxy run (pid " + first.process().pid() + ")")
        .contains("this network namespace");
    assertThat(first.process().isAlive()).isTrue();
    assertThat(first.out()).isEmpty();
  }

  @Test
  void sigterm_exitsZeroWithinTwoSeconds_logsThatTheRulesStay_andTheyDo() throws Exception {
    Run r = startSynced();
    sigterm(r);
    long start = System.nanoTime();
    boolean exited = r.process().waitFor(2, TimeUnit.SECONDS);
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertThat(exited).as("exited within 2 s of SIGTERM (took %d ms)", ms).isTrue();
    assertThat(r.process().exitValue()).as(r.err()).isEqualTo(0);
    assertThat(r.err()).contains("terminating; the rules stay in place");
    assertThat(r.out()).isEmpty();
    assertThat(natRules()).contains("-A KUBE-SERVICES").contains("KUBE-SVC-");
  }

  @Test
  void runKilledWithSigkill_leavesALockFileThatDoesNotBlockTheNextRun() throws Exception {
    Run killed = startSynced();
    killed.process().destroyForcibly();
    assertThat(killed.process().waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(Files.readString(lockFile).strip()).isEqualTo(Long.toString(killed.process().pid()));
    Run next = startSynced();
    sigterm(next);
    assertThat(next.process().waitFor(2, TimeUnit.SECONDS)).isTrue();
    assertThat(next.process().exitValue()).isEqualTo(0);
  }
}
