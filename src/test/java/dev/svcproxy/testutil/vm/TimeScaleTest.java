package dev.svcproxy.testutil.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Deadlines stretch by -Dsvcproxy.timeScale, and only by a sane factor. */
class TimeScaleTest {
  private final String before = System.getProperty(TimeScale.PROPERTY);

  @AfterEach
  void restore() {
    if (before == null) {
      System.clearProperty(TimeScale.PROPERTY);
    } else {
      System.setProperty(TimeScale.PROPERTY, before);
    }
  }

  @Test
  void scale_unset_unchanged() {
    System.clearProperty(TimeScale.PROPERTY);
    assertThat(TimeScale.scale(Duration.ofSeconds(10))).isEqualTo(Duration.ofSeconds(10));
  }

  @Test
  void scale_twentyInTheVm_twentyTimesLonger() {
    System.setProperty(TimeScale.PROPERTY, "20");
    assertThat(TimeScale.scale(Duration.ofMillis(1500))).isEqualTo(Duration.ofSeconds(30));
  }

  @Test
  void scale_belowOneOrNotANumber_refused() {
    System.setProperty(TimeScale.PROPERTY, "0.5");
    assertThatThrownBy(() -> TimeScale.scale(Duration.ofSeconds(1)))
        .hasMessageContaining("at least 1");
    System.setProperty(TimeScale.PROPERTY, "fast");
    assertThatThrownBy(() -> TimeScale.scale(Duration.ofSeconds(1)))
        .hasMessageContaining("not a number");
  }
}
