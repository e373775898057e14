package dev.svcproxy.config;

import dev.svcproxy.model.Ip;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/** Go's net.SplitHostPort for "ip:port" and "[ipv6]:port", and the servers' bind addresses. */
public final class HostPort {
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

  /**
   * A server's listen address from "IP:PORT" or "[IPv6]:PORT"; a bare IP takes {@code defaultPort}
   * when it is >= 0 and is refused otherwise. Only literals pass, so no name is ever looked up.
   *
   * @throws IllegalArgumentException naming {@code flag} when {@code value} is not such an address
   */
  public static InetSocketAddress bindAddress(String value, String flag, int defaultPort) {
    String[] hp = split(value);
    String host = hp == null ? value : hp[0];
    int port = defaultPort;
    if (hp != null) {
      port = hp[1].matches("\\d{1,5}") ? Integer.parseInt(hp[1]) : -1;
      if (port > 65535) {
        port = -1;
      }
    }
    if (port < 0 || !Ip.isIp(host)) {
      throw new IllegalArgumentException(
          flag + ": \"" + value + "\" is not an IP:PORT address (e.g. 0.0.0.0:10256)");
    }
    try {
      return new InetSocketAddress(InetAddress.getByName(host), port);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException(flag + ": \"" + value + "\" is not an IP address", e);
    }
  }
}
