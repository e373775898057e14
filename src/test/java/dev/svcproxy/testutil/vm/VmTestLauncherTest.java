package dev.svcproxy.testutil.vm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;

/** The VM phase's verdict: only "some tests ran and all passed" is a success. */
class VmTestLauncherTest {
  /** Fixtures the launcher runs; surefire leaves the tag out, so they run only from here. */
  @Tag("vm-fixture")
  static class Passing {
    @Test
    void ok() {}
  }

  @Tag("vm-fixture")
  static class Failing {
    @Test
    void ok() {}

    @Test
    void broken() {
      throw new AssertionError("boom");
    }
  }

  @Tag("vm-fixture")
  static class Skipping {
    @Test
    void ok() {}

    @Test
    @Disabled("not today")
    void disabled() {}

    @Test
    void aborted() {
      Assumptions.abort("no kernel");
    }
  }

  @TempDir Path reports;
  private final ByteArrayOutputStream printed = new ByteArrayOutputStream();

  private int run(Class<?> fixture, String tag) throws IOException {
    var request =
        LauncherDiscoveryRequestBuilder.request()
            .selectors(DiscoverySelectors.selectClass(fixture))
            .filters(TagFilter.includeTags(tag))
            .build();
    return VmTestLauncher.run(
        request, reports, new PrintStream(printed, true, StandardCharsets.UTF_8));
  }

  private String printed() {
    return printed.toString(StandardCharsets.UTF_8);
  }

  @Test
  void run_allPass_zeroAndReports() throws IOException {
    assertThat(run(Passing.class, "vm-fixture")).isZero();
    assertThat(printed())
        .contains("PASSED  VmTestLauncherTest$Passing > ok()")
        .endsWith("PASSED\n");
    assertThat(Files.readString(reports.resolve("summary.txt"))).contains("1 run, 1 passed");
    assertThat(Files.readString(reports.resolve("TEST-vm.xml")))
        .contains("tests=\"1\" failures=\"0\" skipped=\"0\"")
        .contains("name=\"ok()\"");
  }

  @Test
  void run_oneFails_nonZeroWithTheMessage() throws IOException {
    assertThat(run(Failing.class, "vm-fixture")).isEqualTo(1);
    assertThat(printed())
        .contains("FAILED  VmTestLauncherTest$Failing > broken()")
        .contains("boom");
    assertThat(Files.readString(reports.resolve("TEST-vm.xml")))
        .contains("failures=\"1\"")
        .contains("<failure message=\"boom\">");
  }

  @Test
  void run_skippedAndAborted_nonZero() throws IOException {
    assertThat(run(Skipping.class, "vm-fixture")).isEqualTo(1);
    assertThat(Files.readString(reports.resolve("summary.txt")))
        .contains("3 run, 1 passed, 0 failed, 2 skipped or aborted")
        .contains("SKIPPED")
        .contains("ABORTED")
        .contains("must run");
  }

  @Test
  void run_noTestSelected_nonZero() throws IOException {
    assertThat(run(Passing.class, "no-such-tag")).isEqualTo(1);
    assertThat(printed()).contains("no test ran");
  }
}
