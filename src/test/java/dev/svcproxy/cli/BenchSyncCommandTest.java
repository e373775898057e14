package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BenchSyncCommandTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--services 0|--services must be between 1 and 38750, got 0",
        "--services -5|--services must be between 1 and 38750, got -5",
        "--services 38751|--services must be between 1 and 38750, got 38751",
        "--endpoints 0|--endpoints must be between 1 and 250, got 0",
        "--endpoints 251|--endpoints must be between 1 and 250, got 251",
        "--backend ipvs|--backend must be nft or legacy, got ipvs",
        "--mode ipvs|--mode must be iptables or nftables, got ipvs",
        "--rounds 0|--rounds must be at least 1, got 0",
        "--floor-timeout 0|--floor-timeout must be positive",
        "--services ten|ten"
      })
  void benchSync_badValue_exitsTwoNamingTheFlag(String args, String message) {
    // --batch 0 is checked after every flag above: should a check let its value through, the
    // command still stops (with another message) instead of running a benchmark at that size.
    int code =
        Main.execute(
            ("bench sync " + args + " --batch 0").split(" "),
            new PrintWriter(out, true),
            new PrintWriter(err, true));

    assertThat(code).isEqualTo(2);
    assertThat(err.toString()).contains(message);
    assertThat(out.toString()).isEmpty();
  }
}
