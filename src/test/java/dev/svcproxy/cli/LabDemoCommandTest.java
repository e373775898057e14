package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Connection.Outcome;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** lab demo's --mode and its check of each connection against upstream's outcome. */
class LabDemoCommandTest {
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Main.execute(
        args, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
  }

  @Test
  void demo_unknownMode_usageErrorBeforeBuildingAnything() {
    assertThat(run("lab", "demo", "--mode", "userspace")).isEqualTo(ExitCodes.USAGE);
    assertThat(err.toString()).contains("--mode must be iptables, nftables or ipvs");
  }

  @Test
  void expected_replied_needsAListedBackendAndPeer() {
    var e = LabCommand.Demo.Expected.replied(Set.of("web-a", "web-b"), Set.of("10.244.1.3"));
    assertThat(e.matches(new Connection(Outcome.REPLIED, "web-b", "10.244.1.3", ""))).isTrue();
    assertThat(e.matches(new Connection(Outcome.REPLIED, "web-c", "10.244.1.3", ""))).isFalse();
    // Masqueraded where upstream keeps the client's address: not what upstream gives.
    assertThat(e.matches(new Connection(Outcome.REPLIED, "web-a", "10.244.1.1", ""))).isFalse();
    assertThat(e.matches(new Connection(Outcome.TIMED_OUT, "", "", ""))).isFalse();
  }

  @Test
  void expected_timedOut_anyOtherOutcomeDiffers() {
    var e = LabCommand.Demo.Expected.not(Outcome.TIMED_OUT);
    assertThat(e.matches(new Connection(Outcome.TIMED_OUT, "", "", ""))).isTrue();
    assertThat(e.matches(new Connection(Outcome.REFUSED, "", "", ""))).isFalse();
    assertThat(e.matches(new Connection(Outcome.REPLIED, "web-b", "192.168.77.100", ""))).isFalse();
  }
}
