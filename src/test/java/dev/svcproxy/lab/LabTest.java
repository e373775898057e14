package dev.svcproxy.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.testutil.KernelTests;
import org.junit.jupiter.api.Test;

/** The lab leaves nothing behind: not after close, not after a failure, not after a dead run. */
class LabTest {
  private final ProcessCommandRunner runner = new ProcessCommandRunner();

  private String namespaces() {
    return runner.run("ip", "netns", "list").stdout();
  }

  @Test
  void close_removesEveryNamespace_andNewLabsRemoveLeftoversOfDeadRuns() {
    KernelTests.require("lab tests");
    // A namespace left by a run whose process (pid 999999999) is gone.
    runner.run("ip", "netns", "add", "svp999999999zz-fabric").orThrow();
    String prefix;
    try (Lab lab = Lab.create(runner, 1)) {
      prefix = lab.prefix();
      assertThat(namespaces()).doesNotContain("svp999999999zz-fabric").contains(prefix + "-node1");
      lab.addPod("node1", "p1");
      assertThat(lab.connect(lab.pod("p1").netns(), lab.node("node1").bridgeIp(), 1).outcome())
          .isEqualTo(Connection.Outcome.REFUSED);
    }
    assertThat(namespaces()).doesNotContain(prefix);
  }

  @Test
  void failureWhileBuilding_leavesNothing() {
    KernelTests.require("lab tests");
    Lab lab = Lab.create(runner, 1);
    String prefix = lab.prefix();
    try {
      assertThatThrownBy(() -> lab.addPod("node1", "bad/name"))
          .isInstanceOf(RuntimeException.class);
    } finally {
      lab.close();
    }
    assertThat(namespaces()).doesNotContain(prefix);
  }
}
