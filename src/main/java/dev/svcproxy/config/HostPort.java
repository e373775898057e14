package dev.svcproxy.config;

/** Go's net.SplitHostPort for "ip:port" and "[ipv6]:port". */
final class HostPort {
  private HostPort() {}

  /** {host, port}, or null when {@code s} has no port. */
  static String[] split(String s) {
    if (s.startsWith("[")) {
      int close = s.indexOf("]:");
      if (close < 0 || s.indexOf(']') != close) {
        return null;
      }
      return new String[] {s.substring(1, close), s.substring(close + 2)};
    }
    int colon = s.lastIndexOf(':');
    if (colon < 0 || s.indexOf(':') != colon) {
      return null;
    }
    return new String[] {s.substring(0, colon), s.substring(colon + 1)};
  }
}
