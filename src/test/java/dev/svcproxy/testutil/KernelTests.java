package dev.svcproxy.testutil;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * The gate of every kernel and lab test: it fails (never skips) when root, network namespaces or a
 * tool the tests need is missing, because a suite that skips its kernel tests silently proves
 * nothing. Only an explicit {@code -Dsvcproxy.kernelTests=skip} skips them, loudly.
 */
public final class KernelTests {
  public static final String PROPERTY = "svcproxy.kernelTests";
  static final List<String> TOOLS =
      List.of("iptables", "iptables-restore", "ipset", "conntrack", "socat", "nfacct");

  private KernelTests() {}

  /** Fails (or, when opted out, skips) unless {@code what} can run here. */
  public static void require(String what) {
    String problem = problem(System.getProperty(PROPERTY, ""), new ProcessCommandRunner());
    if (problem == null) {
      return;
    }
    if (problem.startsWith("SKIP")) {
      System.err.println("*** " + what + " SKIPPED: " + problem);
      Assumptions.abort(problem);
    }
    Assertions.fail(what + ": " + problem);
  }

  /**
   * As {@link #require}, and fails (never skips) unless this kernel has IPVS: tests that need it
   * are tagged {@code @Tag("vm")} and run in the kernel VM (scripts/vm/test), which always has it.
   */
  public static void requireIpvs(String what) {
    require(what);
    String problem =
        ipvsProblem(new ProcessCommandRunner(), java.nio.file.Path.of("/proc/net/ip_vs"));
    if (problem != null) {
      Assertions.fail(what + ": " + problem);
    }
  }

  /** Null when IPVS is there (loading ip_vs first if it is a module), else what to do. */
  static String ipvsProblem(CommandRunner runner, java.nio.file.Path procFile) {
    if (!java.nio.file.Files.exists(procFile)) {
      runner.run("modprobe", "-q", "ip_vs");
    }
    if (java.nio.file.Files.exists(procFile)) {
      return null;
    }
    return "this kernel has no IPVS ("
        + procFile
        + " is missing after modprobe ip_vs); tag the class @Tag(\"vm\") and run it in the kernel VM:"
        + " scripts/vm/test CLASS"
        + (System.getenv("SVCPROXY_VM") != null ? " (this IS the VM: its kernel lost ip_vs?)" : "");
  }

  /**
   * Null when kernel tests can run; "SKIP ..." when they are opted out; otherwise what is missing
   * and how to fix it.
   */
  static String problem(String setting, CommandRunner runner) {
    if (setting.equals("skip")) {
      return "SKIP: -D" + PROPERTY + "=skip was given; kernel and lab behaviour is NOT tested";
    }
    if (!setting.isEmpty() && !setting.equals("run")) {
      return "-D" + PROPERTY + "=" + setting + " is neither run nor skip";
    }
    String hint = " (run as root with network namespaces, or opt out with -D" + PROPERTY + "=skip)";
    if (!runner.run("id", "-u").stdout().strip().equals("0")) {
      return "kernel tests need root" + hint;
    }
    String probe = "svpcheck" + ProcessHandle.current().pid() + "x" + System.nanoTime() % 100000;
    CommandResult add = runner.run("ip", "netns", "add", probe);
    if (!add.ok()) {
      return "cannot create a network namespace: " + add.firstErrorLine() + hint;
    }
    runner.run("ip", "netns", "del", probe);
    List<String> missing = new ArrayList<>();
    for (String tool : TOOLS) {
      if (!runner
          .run(List.of("sh", "-c", "command -v \"$0\"", tool), null, Duration.ofSeconds(10))
          .ok()) {
        missing.add(tool);
      }
    }
    if (!missing.isEmpty()) {
      return "missing tools "
          + missing
          + " (scripts/install-test-deps installs them; run-tests runs it)"
          + hint;
    }
    return null;
  }
}
