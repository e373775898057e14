package dev.svcproxy.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.CoreConstants;
import ch.qos.logback.core.LayoutBase;
import java.time.ZoneId;
import java.time.ZonedDateTime;

/**
 * Log lines in klog's text format, so that the tools and habits built around kube-proxy's logs keep
 * working: {@code Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg} (k8s.io/klog/v2 formatHeader: L is
 * I, W, E or F; the thread id is the process id, right-aligned in 7 columns; local time).
 */
public final class KlogLayout extends LayoutBase<ILoggingEvent> {
  private static final long PID = ProcessHandle.current().pid();

  private ZoneId zone = ZoneId.systemDefault();
  private long pid = PID;

  /** The time zone of the timestamps (klog: local time); tests fix it. */
  public void setZone(String zone) {
    this.zone = ZoneId.of(zone);
  }

  /** The process id printed (tests fix it). */
  public void setPid(long pid) {
    this.pid = pid;
  }

  @Override
  public String doLayout(ILoggingEvent event) {
    ZonedDateTime t = event.getInstant().atZone(zone);
    StringBuilder b = new StringBuilder(128);
    b.append(severity(event.getLevel()));
    two(b, t.getMonthValue());
    two(b, t.getDayOfMonth());
    b.append(' ');
    two(b, t.getHour());
    b.append(':');
    two(b, t.getMinute());
    b.append(':');
    two(b, t.getSecond());
    b.append('.');
    String micros = Integer.toString(t.getNano() / 1000);
    b.append("0".repeat(6 - micros.length())).append(micros);
    b.append(' ');
    String p = Long.toString(pid);
    b.append(" ".repeat(Math.max(0, 7 - p.length()))).append(p);
    b.append(' ').append(source(event)).append("] ");
    b.append(event.getFormattedMessage());
    b.append(CoreConstants.LINE_SEPARATOR);
    if (event.getThrowableProxy() != null) {
      b.append(ThrowableProxyUtil.asString(event.getThrowableProxy()));
      b.append(CoreConstants.LINE_SEPARATOR);
    }
    return b.toString();
  }

  /** klog's severity letter; V-levels (our DEBUG and TRACE) are info lines in klog. */
  static char severity(Level level) {
    if (level.isGreaterOrEqual(Level.ERROR)) {
      return 'E';
    }
    return level.isGreaterOrEqual(Level.WARN) ? 'W' : 'I';
  }

  /** file:line of the logging call, as klog prints it; the logger's class when unknown. */
  private static String source(ILoggingEvent event) {
    StackTraceElement[] caller = event.getCallerData();
    if (caller != null && caller.length > 0 && caller[0].getFileName() != null) {
      return caller[0].getFileName() + ":" + caller[0].getLineNumber();
    }
    String name = event.getLoggerName();
    return name.substring(name.lastIndexOf('.') + 1) + ".java:0";
  }

  private static void two(StringBuilder b, int v) {
    if (v < 10) {
      b.append('0');
    }
    b.append(v);
  }
}
