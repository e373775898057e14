package dev.svcproxy.lab;

import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.vm.KernelVm;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** `svcproxy run` started inside a lab node, on the same JVM and classes as this process. */
public final class ProxyProcess {
  /**
   * How long a start may take before the proxy counts as hung. The wait ends at the first sync, and
   * at once if the process exits, so this bounds only a hang. A JVM start and a first sync take
   * seconds on an idle machine and ~20x that in the emulated kernel VM; on a 2-core machine shared
   * by many JVMs (load 25 to 40) `svcproxy --version` took 20 s, a proxy was still parsing its
   * flags after 56 s (1.3 s of CPU: runnable, starved, not hung), and the former 30 s bound failed
   * most lab tests at their start.
   */
  static final Duration STARTUP_LIMIT = Duration.ofMinutes(5);

  private final Spawned process;
  private final Path log;

  private ProxyProcess(Spawned process, Path log) {
    this.process = process;
    this.log = log;
  }

  /** Starts svcproxy run in iptables mode in {@code node} and waits for its first sync. */
  public static ProxyProcess start(Lab lab, Lab.Node node, Path manifests, List<String> flags) {
    return start(lab, node, manifests, "iptables", flags);
  }

  /** Starts svcproxy run --mode {@code mode} in {@code node} and waits for its first sync. */
  public static ProxyProcess start(
      Lab lab, Lab.Node node, Path manifests, String mode, List<String> flags) {
    return startWith(lab, node, mode, List.of("--manifests", manifests.toString()), flags);
  }

  /**
   * Starts svcproxy run --mode {@code mode} in {@code node} with {@code sourceFlags} naming where
   * Services come from (e.g. --kubeconfig PATH), and waits for its first sync.
   */
  public static ProxyProcess startWith(
      Lab lab, Lab.Node node, String mode, List<String> sourceFlags, List<String> flags) {
    Path log = lab.workDir().resolve("svcproxy-" + node.name() + ".log");
    List<String> argv = new ArrayList<>(javaCommand());
    argv.addAll(List.of("run", "--mode", mode));
    argv.addAll(sourceFlags);
    // The run lock lives with the lab, so it goes when the lab does.
    argv.addAll(nodeFlags(node, lab.workDir()));
    argv.addAll(flags);
    // The log is appended to across restarts: wait for this process's own first sync.
    // The sync loop logs "synced <mode> (...)" after each sync.
    String synced = "synced " + mode;
    int before = new ProxyProcess(null, log).count(synced);
    ProxyProcess p = new ProxyProcess(lab.spawn(node.netns(), argv, log), log);
    p.awaitLog(synced, before + 1, STARTUP_LIMIT.multipliedBy(KernelVm.slowdown()));
    return p;
  }

  /**
   * The flags that tell svcproxy which lab node it runs on: its name and address, the lab's pod
   * CIDR as --cluster-cidr, and the run lock's folder.
   */
  public static List<String> nodeFlags(Lab.Node node, Path lockDir) {
    return List.of(
        "--node-name",
        node.name(),
        "--node-ip",
        node.ip(),
        "--cluster-cidr",
        Lab.CLUSTER_CIDR,
        "--lock-dir",
        lockDir.toString());
  }

  /** The java command that runs svcproxy's main class from this process's jar or classpath. */
  public static List<String> javaCommand() {
    String java = ProcessHandle.current().info().command().orElse("java");
    Path src;
    try {
      src = Path.of(ProxyProcess.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    if (Files.isRegularFile(src)) {
      return List.of(java, "-jar", src.toString());
    }
    return List.of(java, "-cp", System.getProperty("java.class.path"), "dev.svcproxy.cli.Main");
  }

  /** Waits until {@code text} has appeared {@code times} times in the log. */
  public void awaitLog(String text, int times, Duration timeout) {
    long start = System.nanoTime();
    long end = start + timeout.toNanos();
    while (System.nanoTime() < end) {
      if (count(text) >= times) {
        return;
      }
      if (!process.isAlive()) {
        throw new IllegalStateException("svcproxy exited:\n" + log());
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
    throw new IllegalStateException(
        String.format(
            "svcproxy did not log \"%s\" %d time(s) within %d s:%n%s",
            text, times, (System.nanoTime() - start) / 1_000_000_000L, log()));
  }

  public int count(String text) {
    String l = log();
    int n = 0;
    for (int i = l.indexOf(text); i >= 0; i = l.indexOf(text, i + 1)) {
      n++;
    }
    return n;
  }

  public String log() {
    try {
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** Sends SIGTERM, as a node shutdown would. */
  public void stop() {
    process.close();
  }
}
