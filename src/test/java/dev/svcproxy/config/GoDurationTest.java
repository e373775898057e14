package dev.svcproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Go's Duration.String and ParseDuration; expected values from Go's time/time_test.go. */
class GoDurationTest {
  @ParameterizedTest(name = "{1} ns is {0}")
  @CsvSource({
    // time_test.go durationTests
    "0s, 0",
    "1ns, 1",
    "1.1\u00b5s, 1100",
    "2.2ms, 2200000",
    "3.3s, 3300000000",
    "4m5s, 245000000000",
    "4m5.001s, 245001000000",
    "5h6m7.001s, 18367001000000",
    "8m0.000000001s, 480000000001",
    // kube-proxy's defaults as its --write-config-to prints them (roundtrip/default/v1alpha1.yaml)
    "15m0s, 900000000000",
    "24h0m0s, 86400000000000",
    "1h0m0s, 3600000000000",
    "-1s, -1000000000"
  })
  void format_goDurationTests_printsAsGo(String text, long nanos) {
    assertThat(GoDuration.format(Duration.ofNanos(nanos))).isEqualTo(text);
    assertThat(GoDuration.parse(text)).isEqualTo(Duration.ofNanos(nanos));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "30", "1d", "s", ".s", "1.2.3s", "soon"})
  void parse_notAGoDuration_rejected(String text) {
    assertThatThrownBy(() -> GoDuration.parse(text))
        .hasMessage("time: invalid duration \"" + text + "\"");
  }
}
