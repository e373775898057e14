package dev.svcproxy.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * klog's header, "Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg" (k8s.io/klog/v2 klog.go
 * formatHeader: severity letter, two-digit month and day, microseconds zero-padded to 6, the thread
 * id space-padded to 7), e.g. kube-proxy's "I1126 16:30:13.123456 1 server.go:234] ...". Expected
 * lines are written out by hand from that layout.
 */
class KlogLayoutTest {
  private static LoggingEvent event(Level level, String msg, Instant at) {
    Logger logger = new LoggerContext().getLogger("dev.svcproxy.sync.SyncLoop");
    LoggingEvent e = new LoggingEvent("fqcn", logger, level, msg, null, null);
    e.setInstant(at);
    e.setCallerData(
        new StackTraceElement[] {
          new StackTraceElement("dev.svcproxy.sync.SyncLoop", "run", "SyncLoop.java", 142)
        });
    return e;
  }

  private static KlogLayout layout(long pid) {
    KlogLayout l = new KlogLayout();
    l.setZone("UTC");
    l.setPid(pid);
    return l;
  }

  @Test
  void doLayout_infoLine_klogHeader() {
    String line =
        layout(4242)
            .doLayout(
                event(
                    Level.INFO,
                    "synced iptables",
                    Instant.parse("2026-11-26T16:30:13.123456789Z")));
    assertThat(line)
        .isEqualTo("I1126 16:30:13.123456    4242 SyncLoop.java:142] synced iptables\n");
  }

  @Test
  void doLayout_smallValues_zeroPaddedAndPidRightAligned() {
    String line =
        layout(1).doLayout(event(Level.WARN, "x", Instant.parse("2026-01-02T03:04:05.000007Z")));
    assertThat(line).isEqualTo("W0102 03:04:05.000007       1 SyncLoop.java:142] x\n");
  }

  @ParameterizedTest
  @CsvSource({"ERROR, E", "WARN, W", "INFO, I", "DEBUG, I", "TRACE, I"})
  void severity_logbackLevel_klogLetter(String level, char letter) {
    assertThat(KlogLayout.severity(Level.toLevel(level))).isEqualTo(letter);
  }

  @ParameterizedTest
  @CsvSource({"0, INFO", "2, INFO", "3, INFO", "4, DEBUG", "5, DEBUG", "6, TRACE", "10, TRACE"})
  void level_klogVerbosity_logbackLevel(int v, String level) {
    assertThat(Verbosity.level(v)).isEqualTo(Level.toLevel(level));
  }
}
