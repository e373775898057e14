package dev.svcproxy.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.UncheckedIOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The metrics server's start as upstream's serveMetrics: an empty address disables it; a bind error
 * is fatal with --bind-address-hard-fail and retried otherwise. 192.0.2.1 (TEST-NET-1) is on no
 * interface of this host, so binding it fails without any socket being opened.
 */
class MetricsServerTest {
  private static final String UNBINDABLE = "192.0.2.1:10249";

  @Test
  void start_emptyAddress_disabled() {
    assertThat(MetricsServer.start("", "iptables", new PrometheusRegistry(), true)).isNull();
  }

  @Test
  void start_bindFailsWithHardFail_fails() {
    assertThatThrownBy(
            () -> MetricsServer.start(UNBINDABLE, "iptables", new PrometheusRegistry(), true))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("starting metrics server failed")
        .hasMessageContaining(UNBINDABLE);
  }

  @Test
  void start_bindFailsWithoutHardFail_keepsRunningNotListening() {
    try (MetricsServer s =
        MetricsServer.start(UNBINDABLE, "iptables", new PrometheusRegistry(), false)) {
      assertThat(s).isNotNull();
      assertThat(s.listening()).isFalse();
      assertThat(s.port()).isEqualTo(-1);
    }
  }

  @Test
  void start_registersJvmAndProcessMetrics() {
    PrometheusRegistry r = new PrometheusRegistry();
    try (MetricsServer s = MetricsServer.start(UNBINDABLE, "iptables", r, false)) {
      assertThat(s.listening()).isFalse();
      assertThat(Exposition.of(r).series()).containsKey("process_cpu_seconds_total");
      assertThat(Exposition.of(r).type()).containsKey("jvm_threads_current");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"10249", "localhost:10249", "1.2.3.4", "1.2.3.4:http", "1.2.3.4:70000"})
  void parse_notIpColonPort_rejected(String address) {
    assertThatThrownBy(() -> MetricsServer.parse(address))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--metrics-bind-address");
  }

  @Test
  void parse_ipv4AndIpv6_accepted() {
    assertThat(MetricsServer.parse("0.0.0.0:10249").getPort()).isEqualTo(10249);
    assertThat(MetricsServer.parse("[::]:10249").getAddress().getHostAddress())
        .isEqualTo("0:0:0:0:0:0:0:0");
  }
}
