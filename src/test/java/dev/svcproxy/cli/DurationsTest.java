package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Durations read as Go's time.ParseDuration reads them (cases from Go's time package tests). */
class DurationsTest {
  @ParameterizedTest
  @CsvSource({
    "0, 0",
    "5s, 5000000000",
    "30s, 30000000000",
    "1478s, 1478000000000",
    "-5s, -5000000000",
    "+5s, 5000000000",
    "-0, 0",
    "5.0s, 5000000000",
    "5.6s, 5600000000",
    "5.s, 5000000000",
    ".5s, 500000000",
    "1.004s, 1004000000",
    "100.00100s, 100001000000",
    "10ns, 10",
    "11us, 11000",
    "12\u00b5s, 12000",
    "12\u03bcs, 12000",
    "13ms, 13000000",
    "14s, 14000000000",
    "15m, 900000000000",
    "16h, 57600000000000",
    "3h30m, 12600000000000",
    "10.5s4m, 250500000000",
    "-2m3.4s, -123400000000",
    "1h2m3s4ms5us6ns, 3723004005006",
    "39h9m14.425s, 140954425000000",
    "9223372036854775807ns, 9223372036854775807"
  })
  void parse_goSyntax_readsAsGo(String text, long nanos) {
    assertThat(Durations.parse(text, "--f")).isEqualTo(Duration.ofNanos(nanos));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "soon",
        "1 s",
        "9223372036854775808ns",
        "1h-2m"
      })
  void parse_notADuration_failsNamingTheFlag(String text) {
    assertThatThrownBy(() -> Durations.parse(text, "--iptables-sync-period"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("--iptables-sync-period: ");
  }
}
