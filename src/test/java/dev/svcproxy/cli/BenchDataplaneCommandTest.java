package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BenchDataplaneCommandTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String args) {
    return Main.execute(args.split(" "), new PrintWriter(out, true), new PrintWriter(err, true));
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--services 0|--services must be between 1 and 38750",
        "--services 1,38751|--services must be between 1 and 38750",
        "--endpoints 0|--endpoints must be between 1 and 250",
        "--modes iptables,userspace|--modes: unknown mode userspace",
        "--connections 5|--connections must be >= 10",
        "--sync-timeout 0|--sync-timeout must be positive",
      })
  void benchDataplane_badValue_exitsTwoNamingTheFlag(String args, String message) {
    assertThat(run("bench dataplane " + args)).isEqualTo(2);
    assertThat(err.toString()).contains(message);
    assertThat(out.toString()).isEmpty();
  }

  /**
   * A small real run: the lab, run's sync and the probe in pods work together. The measured Service
   * is placed last in KUBE-SERVICES (hand count: 50 Services, then the nodeports jump).
   */
  @Test
  void benchDataplane_iptablesSmall_printsFiguresAndTheWorstCasePosition() {
    int code =
        run(
            "bench dataplane --modes iptables --services 1,50 --endpoints 2 --connections 20"
                + " --warmup 0");
    assertThat(code).as(err.toString()).isZero();
    assertThat(out.toString())
        .contains("rule 1 of 2 in KUBE-SERVICES")
        .contains("rule 50 of 51 in KUBE-SERVICES")
        .containsPattern("iptables: connect p50 at 50 services / at 1: [0-9.]+x");
  }
}
