package dev.svcproxy.lab.vm;

import dev.svcproxy.kernel.CommandRunner;
import java.io.PrintWriter;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The project's kernel VM (scripts/vm/run: QEMU booting Debian's kernel, which has IPVS) seen from
 * svcproxy: whether this kernel has IPVS, whether we already are in the VM, and re-running a
 * svcproxy command inside it.
 */
public final class KernelVm {
  /** Set in the guest's environment by scripts/vm/run. */
  public static final String GUEST_ENV = "SVCPROXY_VM";

  /** Overrides where scripts/vm/run is (default: found next to svcproxy's jar or classes). */
  public static final String RUN_SCRIPT_ENV = "SVCPROXY_VM_RUN";

  /** How much slower than native the emulated guest runs (the ipvs-vm.md measurements: ~20x). */
  static final int GUEST_SLOWDOWN = 20;

  private KernelVm() {}

  /** True inside the VM. */
  public static boolean inGuest(Map<String, String> env) {
    return env.containsKey(GUEST_ENV);
  }

  /** The factor to stretch wall-clock waits by: 20 inside the VM, 1 elsewhere. */
  public static int slowdown() {
    return inGuest(System.getenv()) ? GUEST_SLOWDOWN : 1;
  }

  /** True when this kernel has IPVS, loading ip_vs first if it is a module. */
  public static boolean hasIpvs(CommandRunner runner, Path procFile) {
    if (Files.exists(procFile)) {
      return true;
    }
    runner.run("modprobe", "-q", "ip_vs");
    return Files.exists(procFile);
  }

  /** {@link #hasIpvs(CommandRunner, Path)} for this machine. */
  public static boolean hasIpvs(CommandRunner runner) {
    return hasIpvs(runner, Path.of("/proc/net/ip_vs"));
  }

  /** scripts/vm/run: from {@value #RUN_SCRIPT_ENV}, or the checkout svcproxy runs from. */
  public static Optional<Path> runScript(Map<String, String> env, Path codeSource) {
    String set = env.get(RUN_SCRIPT_ENV);
    if (set != null && !set.isBlank()) {
      return Optional.of(Path.of(set));
    }
    for (Path d = codeSource.toAbsolutePath(); d != null; d = d.getParent()) {
      Path run = d.resolve("scripts/vm/run");
      if (Files.isExecutable(run)) {
        return Optional.of(run);
      }
    }
    return Optional.empty();
  }

  /**
   * The harness's argv that runs {@code command} (an argv) in the VM, with {@code writable}
   * directories shared read-write (e.g. where the command writes files the host should keep).
   */
  public static List<String> argv(
      Path runScript, List<String> command, List<Path> writable, int timeoutSeconds) {
    List<String> argv = new ArrayList<>(List.of(runScript.toString(), "-t", "" + timeoutSeconds));
    for (Path w : writable) {
      argv.add("-w");
      argv.add(w.toAbsolutePath().toString());
    }
    argv.add("-c");
    // The harness takes one shell command line: quote every word.
    argv.add(String.join(" ", command.stream().map(KernelVm::shellQuote).toList()));
    return argv;
  }

  static String shellQuote(String word) {
    if (!word.isEmpty() && word.matches("[A-Za-z0-9_./:=,@%+-]+")) {
      return word;
    }
    return "'" + word.replace("'", "'\\''") + "'";
  }

  /**
   * Runs {@code argv} (the harness) through {@code runner}, copying its stdout line by line to
   * {@code out} as it comes; its stderr (the harness's progress and timings) goes to this process's
   * stderr. Returns its exit code: the guest command's, 124 on timeout, 125 when the guest died.
   */
  public static int run(CommandRunner runner, List<String> argv, PrintWriter out) {
    // The harness enforces the guest's own deadline (-t); this one only guards against a hung QEMU.
    return runner.stream(
        argv,
        java.time.Duration.ofHours(2),
        line -> {
          out.println(line);
          out.flush();
        });
  }

  /** Where this code was loaded from (svcproxy's jar or classes directory). */
  public static Path codeSource() {
    try {
      return Path.of(KernelVm.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
