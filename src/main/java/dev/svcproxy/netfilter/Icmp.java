package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * ICMP type names as iptables 1.8.9 reads them (libxt_icmp / xshared.c icmp_codes): a name or an
 * unambiguous prefix of one (case-insensitive), "any", or "type[/code]" in decimal.
 */
public final class Icmp {
  private Icmp() {}

  /** One row of libxt_icmp's names table: type, and the code range the name covers. */
  private record Name(String name, int type, int codeMin, int codeMax) {}

  private static final List<Name> NAMES =
      List.of(
          new Name("any", 0xFF, 0, 0xFF),
          new Name("echo-reply", 0, 0, 0xFF),
          new Name("pong", 0, 0, 0xFF),
          new Name("destination-unreachable", 3, 0, 0xFF),
          new Name("network-unreachable", 3, 0, 0),
          new Name("host-unreachable", 3, 1, 1),
          new Name("protocol-unreachable", 3, 2, 2),
          new Name("port-unreachable", 3, 3, 3),
          new Name("fragmentation-needed", 3, 4, 4),
          new Name("source-route-failed", 3, 5, 5),
          new Name("network-unknown", 3, 6, 6),
          new Name("host-unknown", 3, 7, 7),
          new Name("network-prohibited", 3, 9, 9),
          new Name("host-prohibited", 3, 10, 10),
          new Name("TOS-network-unreachable", 3, 11, 11),
          new Name("TOS-host-unreachable", 3, 12, 12),
          new Name("communication-prohibited", 3, 13, 13),
          new Name("host-precedence-violation", 3, 14, 14),
          new Name("precedence-cutoff", 3, 15, 15),
          new Name("source-quench", 4, 0, 0xFF),
          new Name("redirect", 5, 0, 0xFF),
          new Name("network-redirect", 5, 0, 0),
          new Name("host-redirect", 5, 1, 1),
          new Name("TOS-network-redirect", 5, 2, 2),
          new Name("TOS-host-redirect", 5, 3, 3),
          new Name("echo-request", 8, 0, 0xFF),
          new Name("ping", 8, 0, 0xFF),
          new Name("router-advertisement", 9, 0, 0xFF),
          new Name("router-solicitation", 10, 0, 0xFF),
          new Name("time-exceeded", 11, 0, 0xFF),
          new Name("ttl-exceeded", 11, 0, 0xFF),
          new Name("ttl-zero-during-transit", 11, 0, 0),
          new Name("ttl-zero-during-reassembly", 11, 1, 1),
          new Name("parameter-problem", 12, 0, 0xFF),
          new Name("ip-header-bad", 12, 0, 0),
          new Name("required-option-missing", 12, 1, 1),
          new Name("timestamp-request", 13, 0, 0xFF),
          new Name("timestamp-reply", 14, 0, 0xFF),
          new Name("address-mask-request", 17, 0, 0xFF),
          new Name("address-mask-reply", 18, 0, 0xFF));

  /**
   * {type, codeMin, codeMax} of an --icmp-type value; type 0xFF is "any". A name matches by
   * unambiguous prefix, as parse_icmp's strncasecmp does; "8" covers every code, "8/0" code 0.
   */
  public static int[] parse(String text) {
    String t = text.strip();
    List<Name> hits = new ArrayList<>();
    for (Name n : NAMES) {
      if (!t.isEmpty() && n.name.toLowerCase(Locale.ROOT).startsWith(t.toLowerCase(Locale.ROOT))) {
        if (n.name.equalsIgnoreCase(t)) {
          hits.clear();
          hits.add(n);
          break;
        }
        hits.add(n);
      }
    }
    if (hits.size() > 1) {
      throw new IllegalArgumentException(
          "ambiguous ICMP type " + t + ": " + hits.get(0).name + " or " + hits.get(1).name);
    }
    if (hits.size() == 1) {
      Name n = hits.get(0);
      return new int[] {n.type, n.codeMin, n.codeMax};
    }
    int slash = t.indexOf('/');
    int type = byte255(slash < 0 ? t : t.substring(0, slash), text);
    if (slash < 0) {
      return new int[] {type, 0, 0xFF};
    }
    int code = byte255(t.substring(slash + 1), text);
    return new int[] {type, code, code};
  }

  /** {type, code} of a name or "type/code" as ipset reads an icmp port part. */
  public static int[] byName(String text) {
    int[] tc = parse(text);
    return new int[] {tc[0], tc[1]};
  }

  private static int byte255(String s, String text) {
    if (s.isEmpty() || s.length() > 3 || !s.chars().allMatch(Character::isDigit)) {
      throw new IllegalArgumentException("invalid ICMP type " + text);
    }
    int v = Integer.parseInt(s);
    if (v > 255) {
      throw new IllegalArgumentException("invalid ICMP type " + text);
    }
    return v;
  }
}
