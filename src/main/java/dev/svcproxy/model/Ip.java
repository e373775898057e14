package dev.svcproxy.model;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** Strict IP literal parsing; never resolves names. */
public final class Ip {
  private Ip() {}

  /** True for a dotted-quad IPv4 literal with no leading zeros (canonical form). */
  public static boolean isIpv4(String s) {
    return ipv4ToLong(s) >= 0;
  }

  /** True for an IPv6 literal (no zone, no brackets). */
  public static boolean isIpv6(String s) {
    if (s == null || s.length() > 64 || s.indexOf(':') < 0 || !s.matches("[0-9a-fA-F:.]+")) {
      return false;
    }
    try {
      return InetAddress.getByName(s).getAddress().length == 16;
    } catch (UnknownHostException e) {
      return false;
    }
  }

  public static boolean isIp(String s) {
    return isIpv4(s) || isIpv6(s);
  }

  /** The IPv4 address as an unsigned 32-bit value, or -1 when {@code s} is not IPv4. */
  public static long ipv4ToLong(String s) {
    if (s == null) {
      return -1;
    }
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4) {
      return -1;
    }
    long v = 0;
    for (String p : parts) {
      if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit)) {
        return -1;
      }
      if (p.length() > 1 && p.charAt(0) == '0') {
        return -1;
      }
      int octet = Integer.parseInt(p);
      if (octet > 255) {
        return -1;
      }
      v = (v << 8) | octet;
    }
    return v;
  }

  /**
   * Reads an IP literal as upstream's ParseIPSloppy does: IPv4 octets may carry leading zeros and
   * are decimal ("010" is 10, not octal 8), as Go read them before 1.17 and the API server still
   * does. Returns the canonical text (IPv4 without leading zeros, an IPv4-mapped IPv6 address as
   * the IPv4 address, other IPv6 unchanged), or null when {@code s} is not an IP literal.
   */
  public static String parseSloppy(String s) {
    if (s == null) {
      return null;
    }
    long v4 = ipv4ToLongSloppy(s);
    if (v4 >= 0) {
      return longToIpv4(v4);
    }
    if (isIpv6(s)) {
      return s;
    }
    return ipv4MappedIpv6(s);
  }

  /** "::ffff:1.2.3.4" is IPv4 to Go's net.IP (and so to kube-proxy); its dotted form, else null. */
  private static String ipv4MappedIpv6(String s) {
    if (s.indexOf(':') < 0 || s.length() > 64 || !s.matches("[0-9a-fA-F:.]+")) {
      return null;
    }
    try {
      byte[] b = InetAddress.getByName(s).getAddress();
      return b.length == 4
          ? (b[0] & 255) + "." + (b[1] & 255) + "." + (b[2] & 255) + "." + (b[3] & 255)
          : null;
    } catch (UnknownHostException e) {
      return null;
    }
  }

  /** As {@link #ipv4ToLong} but accepting leading zeros in octets, as ParseIPSloppy. */
  public static long ipv4ToLongSloppy(String s) {
    if (s == null || s.length() > 64) {
      return -1;
    }
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4) {
      return -1;
    }
    long v = 0;
    for (String p : parts) {
      if (p.isEmpty() || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
        return -1;
      }
      // Go's dtoi gives up past 0xFFFFFF, so any run of digits is bounded before the octet check.
      String digits = p.replaceFirst("^0+(?=.)", "");
      if (digits.length() > 3) {
        return -1;
      }
      int octet = Integer.parseInt(digits);
      if (octet > 255) {
        return -1;
      }
      v = (v << 8) | octet;
    }
    return v;
  }

  /** Formats an unsigned 32-bit value as a dotted quad. */
  public static String longToIpv4(long v) {
    return ((v >> 24) & 255) + "." + ((v >> 16) & 255) + "." + ((v >> 8) & 255) + "." + (v & 255);
  }
}
