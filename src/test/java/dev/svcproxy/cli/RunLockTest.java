package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One run per network namespace: a kernel file lock that dies with its process. */
class RunLockTest {
  @TempDir Path dir;

  /** Starts a JVM that takes the lock for {@code key} (null: this netns) and reports it. */
  private Process holder(String key) throws Exception {
    List<String> argv =
        new java.util.ArrayList<>(
            SvcproxyProcess.javaCommand(List.of(), RunLockHolder.class.getName()));
    argv.add(dir.toString());
    if (key != null) {
      argv.add(key);
    }
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String line =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))
            .readLine();
    assertThat(line).isEqualTo("locked");
    return p;
  }

  @Test
  void acquire_free_writesOurPid_andReleaseLetsTheNextOneIn() throws Exception {
    try (RunLock l = RunLock.acquire(dir, "net-1")) {
      assertThat(l).isNotNull();
      assertThat(Files.readString(dir.resolve("net-1.lock")).strip())
          .isEqualTo(Long.toString(ProcessHandle.current().pid()));
    }
    try (RunLock l = RunLock.acquire(dir, "net-1")) {
      assertThat(l).isNotNull();
    }
  }

  @Test
  void acquire_fileLeftByADeadRun_isNotBlocked() throws Exception {
    Files.writeString(dir.resolve("net-2.lock"), "999999999\n");
    try (RunLock l = RunLock.acquire(dir, "net-2")) {
      assertThat(l).isNotNull();
      assertThat(Files.readString(dir.resolve("net-2.lock")).strip())
          .isEqualTo(Long.toString(ProcessHandle.current().pid()));
    }
  }

  @Test
  void acquire_heldByAnotherProcess_refusesNamingItsPid_untilItIsKilled() throws Exception {
    Process p = holder("net-3");
    try {
      assertThatThrownBy(() -> RunLock.acquire(dir, "net-3"))
          .isInstanceOfSatisfying(
              CliException.class, e -> assertThat(e.exitCode()).isEqualTo(ExitCodes.USAGE))
          .hasMessageContaining("pid " + p.pid() + ")")
          .hasMessageContaining("already running in this network namespace");
      // Another namespace's lock is another file.
      try (RunLock other = RunLock.acquire(dir, "net-4")) {
        assertThat(other).isNotNull();
      }
    } finally {
      p.destroyForcibly();
      assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
    }
    // SIGKILL gave the holder no chance to clean up; the kernel dropped its lock.
    try (RunLock l = RunLock.acquire(dir, "net-3")) {
      assertThat(l).isNotNull();
    }
  }

  @Test
  void run_secondInstanceInThisNetworkNamespace_exitsTwoNamingTheHolder() throws Exception {
    Process p = holder(null);
    try {
      StringWriter out = new StringWriter();
      StringWriter err = new StringWriter();
      String manifests = SvcproxyProcess.resource("/golden/overall/input.yaml").toString();
      RefusingRunner refusing = new RefusingRunner();
      int code =
          Main.execute(
              Main.commandLine(refusing.factory()),
              new String[] {
                "run", "--manifests", manifests, "--node-name", "n", "--lock-dir", dir.toString()
              },
              new PrintWriter(out, true),
              new PrintWriter(err, true));
      assertThat(code).as(err.toString()).isEqualTo(2);
      assertThat(refusing.commands).isEmpty();
      assertThat(err.toString().strip().lines()).hasSize(1);
      assertThat(err.toString())
          .startsWith("svcproxy: another svcproxy run (pid " + p.pid() + ")")
          .contains(RunLock.currentNetns());
    } finally {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void currentNetns_isTheInodeOfProcSelfNsNet() throws Exception {
    Object ino = Files.getAttribute(Path.of("/proc/self/ns/net"), "unix:ino");
    assertThat(RunLock.currentNetns()).isEqualTo("net-" + ino);
  }
}
