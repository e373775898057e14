package dev.svcproxy.testutil.vm;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * The VM test phase's main class: runs JUnit in the guest JVM, prints each test's result as it
 * ends, writes {@code summary.txt} and a JUnit XML report, and exits 0 only when at least one test
 * ran and every test passed (a skipped or aborted test fails the phase: IPVS tests never skip
 * silently).
 *
 * <p>Arguments: {@code --reports DIR [--classpath-root DIR] [SELECTOR...]}. A selector is a class
 * name or {@code Class#method}; without selectors every test tagged {@code vm} under the classpath
 * root runs.
 */
public final class VmTestLauncher {
  /** One finished test (or a container that failed on its own, e.g. in {@code @BeforeAll}). */
  record Outcome(
      String className, String name, String status, Duration time, String message, String trace) {}

  /** Test classes run at once in the guest JVM (the VM has two vCPUs). */
  static final String PARALLEL_CLASSES = "2";

  private VmTestLauncher() {}

  public static void main(String[] args) throws IOException {
    Path reports = null;
    Path root = null;
    List<DiscoverySelector> selectors = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--reports" -> reports = Path.of(args[++i]);
        case "--classpath-root" -> root = Path.of(args[++i]);
        default -> selectors.add(selector(args[i]));
      }
    }
    if (reports == null) {
      System.err.println(
          "usage: VmTestLauncher --reports DIR [--classpath-root DIR] [CLASS[#METHOD]...]");
      System.exit(2);
    }
    LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request();
    if (selectors.isEmpty()) {
      if (root == null) {
        System.err.println("VmTestLauncher: give selectors or --classpath-root");
        System.exit(2);
      }
      request.selectors(DiscoverySelectors.selectClasspathRoots(java.util.Set.of(root)));
      request.filters(TagFilter.includeTags("vm"));
    } else {
      request.selectors(selectors);
    }
    // Two test classes at a time, one per vCPU: most of a VM test's time is spent in the kernel
    // tools it runs, and each class works in network namespaces of its own lab.
    request
        .configurationParameter("junit.jupiter.execution.parallel.enabled", "true")
        .configurationParameter("junit.jupiter.execution.parallel.mode.default", "same_thread")
        .configurationParameter(
            "junit.jupiter.execution.parallel.mode.classes.default", "concurrent")
        .configurationParameter("junit.jupiter.execution.parallel.config.strategy", "fixed")
        .configurationParameter(
            "junit.jupiter.execution.parallel.config.executor-service", "FORK_JOIN_POOL")
        .configurationParameter(
            "junit.jupiter.execution.parallel.config.fixed.parallelism", PARALLEL_CLASSES);
    int code = run(request.build(), reports, System.out);
    System.exit(code);
  }

  static DiscoverySelector selector(String arg) {
    int hash = arg.indexOf('#');
    return hash < 0
        ? DiscoverySelectors.selectClass(arg)
        : DiscoverySelectors.selectMethod(arg.substring(0, hash), arg.substring(hash + 1));
  }

  /** Runs the request, reports into {@code reports}; returns the process exit code. */
  static int run(LauncherDiscoveryRequest request, Path reports, PrintStream out)
      throws IOException {
    Files.createDirectories(reports);
    Recorder recorder = new Recorder(out);
    long start = System.nanoTime();
    LauncherFactory.create().execute(request, recorder);
    Duration total = Duration.ofNanos(System.nanoTime() - start);
    List<Outcome> outcomes = recorder.outcomes();
    long passed = count(outcomes, "PASSED");
    long failed = count(outcomes, "FAILED");
    long notRun = outcomes.size() - passed - failed;
    StringBuilder summary = new StringBuilder();
    summary.append(
        String.format(
            "VM tests: %d run, %d passed, %d failed, %d skipped or aborted, in %.1f s%n",
            outcomes.size(), passed, failed, notRun, total.toMillis() / 1000.0));
    for (Outcome o : outcomes) {
      if (!o.status().equals("PASSED")) {
        summary.append(
            String.format("  %s %s.%s: %s%n", o.status(), o.className(), o.name(), o.message()));
      }
    }
    String verdict;
    if (outcomes.isEmpty()) {
      verdict = "FAILED: no test ran (is the selection right? are the classes tagged vm?)";
    } else if (failed > 0) {
      verdict = "FAILED";
    } else if (notRun > 0) {
      verdict = "FAILED: tests were skipped or aborted; in the VM every test must run";
    } else {
      verdict = "PASSED";
    }
    summary.append(verdict).append('\n');
    out.print(summary);
    out.flush();
    Files.writeString(reports.resolve("summary.txt"), summary);
    Files.writeString(reports.resolve("TEST-vm.xml"), xml(outcomes, total));
    return verdict.equals("PASSED") ? 0 : 1;
  }

  private static long count(List<Outcome> outcomes, String status) {
    return outcomes.stream().filter(o -> o.status().equals(status)).count();
  }

  static String xml(List<Outcome> outcomes, Duration total) {
    StringBuilder x = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.append(
        String.format(
            "<testsuite name=\"vm\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" errors=\"0\" time=\"%.3f\">%n",
            outcomes.size(),
            count(outcomes, "FAILED"),
            outcomes.size() - count(outcomes, "FAILED") - count(outcomes, "PASSED"),
            total.toMillis() / 1000.0));
    for (Outcome o : outcomes) {
      x.append(
          String.format(
              "  <testcase classname=\"%s\" name=\"%s\" time=\"%.3f\"",
              esc(o.className()), esc(o.name()), o.time().toMillis() / 1000.0));
      switch (o.status()) {
        case "PASSED" -> x.append("/>\n");
        case "FAILED" ->
            x.append(">\n    <failure message=\"")
                .append(esc(o.message()))
                .append("\">")
                .append(esc(o.trace()))
                .append("</failure>\n  </testcase>\n");
        default ->
            x.append(">\n    <skipped message=\"")
                .append(esc(o.status() + ": " + o.message()))
                .append("\"/>\n  </testcase>\n");
      }
    }
    return x.append("</testsuite>\n").toString();
  }

  private static String esc(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '&' -> b.append("&amp;");
        case '"' -> b.append("&quot;");
        default -> {
          if (c >= 0x20 || c == '\n' || c == '\t') {
            b.append(c);
          }
        }
      }
    }
    return b.toString();
  }

  /** Prints each result as it happens and keeps it for the report. */
  static final class Recorder implements TestExecutionListener {
    private final PrintStream out;
    private final Map<String, Long> started = new ConcurrentHashMap<>();
    private final List<Outcome> outcomes =
        java.util.Collections.synchronizedList(new ArrayList<>());
    private TestPlan plan;

    Recorder(PrintStream out) {
      this.out = out;
    }

    List<Outcome> outcomes() {
      return List.copyOf(outcomes);
    }

    @Override
    public void testPlanExecutionStarted(TestPlan testPlan) {
      plan = testPlan;
      out.printf("VM tests: %d found%n", testPlan.countTestIdentifiers(TestIdentifier::isTest));
      out.flush();
    }

    @Override
    public void executionStarted(TestIdentifier id) {
      started.put(id.getUniqueId(), System.nanoTime());
      if (id.isTest()) {
        out.printf("  RUN     %s%n", label(id));
        out.flush();
      }
    }

    @Override
    public void executionSkipped(TestIdentifier id, String reason) {
      // A skipped container skips all its tests: each counts.
      List<TestIdentifier> tests = new ArrayList<>();
      if (id.isTest()) {
        tests.add(id);
      } else if (plan != null) {
        plan.getDescendants(id).stream().filter(TestIdentifier::isTest).forEach(tests::add);
        if (tests.isEmpty()) {
          tests.add(id);
        }
      }
      for (TestIdentifier t : tests) {
        add(t, "SKIPPED", Duration.ZERO, reason, "");
      }
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
      Long t0 = started.remove(id.getUniqueId());
      Duration time = Duration.ofNanos(t0 == null ? 0 : System.nanoTime() - t0);
      Optional<Throwable> error = result.getThrowable();
      String message = error.map(e -> String.valueOf(e.getMessage())).orElse("");
      String trace = error.map(VmTestLauncher::stackTrace).orElse("");
      TestExecutionResult.Status status = result.getStatus();
      if (!id.isTest()) {
        // A class whose @BeforeAll (or the engine) failed ran none of its tests: report that.
        if (status != TestExecutionResult.Status.SUCCESSFUL) {
          add(
              id,
              status == TestExecutionResult.Status.ABORTED ? "ABORTED" : "FAILED",
              time,
              message,
              trace);
        }
        return;
      }
      switch (status) {
        case SUCCESSFUL -> add(id, "PASSED", time, "", "");
        case ABORTED -> add(id, "ABORTED", time, message, trace);
        case FAILED -> add(id, "FAILED", time, message, trace);
      }
    }

    private void add(
        TestIdentifier id, String status, Duration time, String message, String trace) {
      outcomes.add(new Outcome(className(id), id.getDisplayName(), status, time, message, trace));
      out.printf(
          "  %-7s %s (%.1f s)%s%n",
          status, label(id), time.toMillis() / 1000.0, message.isEmpty() ? "" : ": " + message);
      if (status.equals("FAILED")) {
        out.print(trace.indent(4));
      }
      out.flush();
    }

    private String className(TestIdentifier id) {
      if (id.getSource().orElse(null) instanceof MethodSource m) {
        return m.getClassName();
      }
      if (id.getSource().orElse(null)
          instanceof org.junit.platform.engine.support.descriptor.ClassSource c) {
        return c.getClassName();
      }
      return id.getUniqueId();
    }

    private String label(TestIdentifier id) {
      String cls = className(id);
      String simple = cls.substring(cls.lastIndexOf('.') + 1);
      return id.isTest() ? simple + " > " + id.getDisplayName() : simple;
    }
  }

  static String stackTrace(Throwable t) {
    StringWriter w = new StringWriter();
    t.printStackTrace(new PrintWriter(w));
    return w.toString();
  }

  static {
    // The guest's console is UTF-8 only if we say so.
    System.setOut(new PrintStream(System.out, true, StandardCharsets.UTF_8));
  }
}
