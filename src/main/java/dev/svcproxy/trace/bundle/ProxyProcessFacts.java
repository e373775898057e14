package dev.svcproxy.trace.bundle;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The Service proxy running in a node's network namespace (kube-proxy, or {@code svcproxy run}),
 * found by its command line: a capture (and the live doctor) writes what it found into {@code
 * proxy-process.txt} (one process a line, {@code PID arg0 arg1 ...}; empty when none runs), from
 * which the doctor learns the node's name, the proxy's mode and flags.
 */
public final class ProxyProcessFacts {
  /**
   * The bundle file: the proxy processes found, or empty when the capture looked and found none.
   */
  public static final String FILE = "proxy-process.txt";

  private ProxyProcessFacts() {}

  /** One proxy process: its pid and its arguments, program first. */
  public record Process(long pid, List<String> argv) {
    public Process {
      argv = List.copyOf(argv);
    }

    /** The arguments after the program (after "run" for svcproxy): the proxy's flags. */
    public List<String> flags() {
      int run = argv.indexOf("run");
      if (run >= 0 && !isKubeProxy(argv.get(0))) {
        return argv.subList(run + 1, argv.size());
      }
      return argv.subList(1, argv.size());
    }

    /**
     * The line of proxy-process.txt for this process. Control characters in an argument (a line
     * break would start a line of its own, read as another process) become '?'.
     */
    public String line() {
      return pid + " " + String.join(" ", argv).replaceAll("\\p{Cntrl}", "?");
    }
  }

  /**
   * The text of proxy-process.txt for the proxy processes in the network namespace the runner
   * enters (the processes whose /proc/PID/ns/net is the runner's own): one line each, "" when none
   * runs. Empty when the namespace cannot be told (no ps), so that absence stays "unknown".
   */
  public static Optional<String> capture(CommandRunner runner) {
    return find(runner)
        .map(
            ps -> {
              StringBuilder b = new StringBuilder();
              ps.forEach(p -> b.append(p.line()).append('\n'));
              return b.toString();
            });
  }

  /** The proxy processes in the runner's network namespace; empty when it cannot tell. */
  public static Optional<List<Process>> find(CommandRunner runner) {
    CommandResult self = runner.run("readlink", "/proc/self/ns/net");
    CommandResult ps = runner.run("ps", "-e", "-ww", "-o", "pid=,netns=,args=");
    if (!self.ok() || !ps.ok()) {
      return Optional.empty();
    }
    String ns = self.stdout().strip().replaceAll("\\D", "");
    List<Process> out = new ArrayList<>();
    for (String line : ps.stdout().lines().toList()) {
      String[] f = line.strip().split("\\s+", 3);
      if (f.length < 3 || !f[1].equals(ns) || !f[0].matches("\\d+")) {
        continue;
      }
      if (!isProxy(List.of(f[2].split("\\s+")))) {
        continue;
      }
      // ps joins the arguments with blanks; /proc/PID/cmdline keeps each one whole.
      CommandResult cmd = runner.run("cat", "/proc/" + f[0] + "/cmdline");
      List<String> argv =
          cmd.ok() && !cmd.stdout().isEmpty()
              ? List.of(cmd.stdout().split("\0"))
              : List.of(f[2].split("\\s+"));
      if (isProxy(argv)) {
        out.add(new Process(Long.parseLong(f[0]), argv));
      }
    }
    return Optional.of(out);
  }

  /** Whether a command line is kube-proxy's or {@code svcproxy run}'s. */
  public static boolean isProxy(List<String> argv) {
    if (argv.isEmpty()) {
      return false;
    }
    if (isKubeProxy(argv.get(0))) {
      return true;
    }
    boolean svcproxy =
        argv.stream()
            .anyMatch(
                a ->
                    a.equals("dev.svcproxy.cli.Main")
                        || base(a).equals("svcproxy")
                        || base(a).matches("svcproxy.*\\.jar"));
    return svcproxy && argv.contains("run");
  }

  private static boolean isKubeProxy(String program) {
    return base(program).equals("kube-proxy");
  }

  private static String base(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }

  /** The processes listed in proxy-process.txt's text. */
  public static List<Process> parse(String text) {
    List<Process> out = new ArrayList<>();
    for (String line : text.lines().toList()) {
      String[] f = line.strip().split("\\s+");
      if (f.length >= 2 && f[0].matches("\\d{1,10}")) {
        out.add(new Process(Long.parseLong(f[0]), List.of(f).subList(1, f.length)));
      }
    }
    return out;
  }
}
