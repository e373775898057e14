package dev.svcproxy.testutil;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** -Dgolden.update is for people, never for the build. */
class GoldenUpdateTest {

  @Test
  void requested_underCi_fails() {
    assertThatThrownBy(() -> GoldenUpdate.requested("true", Map.of("CI", "true")))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("refused")
        .hasMessageContaining("CI is set");
  }

  @Test
  void requested_underRunTests_fails() {
    assertThatThrownBy(() -> GoldenUpdate.requested("true", Map.of("SVCPROXY_RUN_TESTS", "1")))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("run-tests");
  }

  @Test
  void requested_byHand_updates() {
    assertThat(GoldenUpdate.requested("true", Map.of("HOME", "/root"))).isTrue();
  }

  @Test
  void requested_notAsked_neverUpdates() {
    assertThat(GoldenUpdate.requested("", Map.of("CI", "true"))).isFalse();
    assertThat(GoldenUpdate.requested("false", Map.of())).isFalse();
  }
}
