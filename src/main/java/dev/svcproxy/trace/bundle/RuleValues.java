package dev.svcproxy.trace.bundle;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.AddrTypes;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Value;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Checks the values of the rule options the tracer evaluates (ports, marks, prefixes,
 * probabilities, state and address-type names, NAT targets), so that a value mangled in a pasted
 * dump is reported with its file and line when the bundle is read, not met mid-trace.
 */
final class RuleValues {
  /** One bad value: the element that carries it and why it is wrong. */
  record Problem(Arg arg, String reason) {}

  private static final Set<String> CT_STATES =
      Set.of("INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT");
  private static final Set<String> CT_STATUS =
      Set.of("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED");
  private static final java.util.regex.Pattern PROTOCOL =
      java.util.regex.Pattern.compile("[a-z][a-z0-9-]*");
  private static final java.util.regex.Pattern HEX = java.util.regex.Pattern.compile("[0-9a-f]+");
  private static final Set<String> TCP_FLAGS =
      Set.of("SYN", "ACK", "FIN", "RST", "URG", "PSH", "ALL", "NONE");

  /** The module name that marks a rule whose values could not be read. */
  static final String UNREADABLE = "unreadable";

  private RuleValues() {}

  static List<Problem> check(Rule rule) {
    List<Problem> out = new ArrayList<>();
    for (Arg a : rule.args()) {
      String why =
          switch (a) {
            case Arg.Param p -> param(p);
            case Arg.Option o -> option(o, rule);
            default -> null;
          };
      if (why != null) {
        out.add(new Problem(a, why));
      }
    }
    return out;
  }

  /**
   * The rule with its bad elements taken out and a first match the tracer cannot evaluate put in
   * their place, so the rule keeps its position and number but is never taken: "could not evaluate,
   * assumed it does not match", naming what was wrong.
   */
  static Rule unevaluable(Rule rule, List<Arg> bad, String what) {
    List<Arg> args = new ArrayList<>();
    // A module no kernel has: the tracer cannot evaluate it, and its one option says what was bad.
    args.add(new Arg.Module(UNREADABLE));
    args.add(new Arg.Option(UNREADABLE, false, "--value", List.of(Value.of(what)), false));
    for (Arg a : rule.args()) {
      if (!bad.contains(a)) {
        args.add(a);
      }
    }
    return new Rule(rule.chain(), args, rule.counters());
  }

  private static String param(Arg.Param p) {
    if (p.value() == null) {
      return null;
    }
    String v = p.value().text();
    return switch (p.flag()) {
      case "-s", "--source", "--src", "-d", "--destination", "--dst" -> cidrs(v);
      case "-p", "--protocol" ->
          PROTOCOL.matcher(v.toLowerCase(Locale.ROOT)).matches() || number(v, 0, 255)
              ? null
              : "not a protocol: " + v;
      case "-i", "--in-interface", "-o", "--out-interface" ->
          v.length() <= 15 && !v.isEmpty() && v.chars().noneMatch(c -> c == '/' || c <= ' ')
              ? null
              : "not an interface name: " + v;
      default -> null;
    };
  }

  private static String option(Arg.Option o, Rule rule) {
    String v = o.text();
    String m = o.module();
    if (o.ofTarget()) {
      return target(o, v);
    }
    switch (o.flag()) {
      case "--dport", "--sport", "--destination-port", "--source-port" -> {
        return m.equals("tcp") || m.equals("udp") || m.equals("sctp") || m.equals("udplite")
            ? ports(v, false)
            : null;
      }
      case "--dports", "--sports", "--ports", "--destination-ports", "--source-ports" -> {
        return ports(v, true);
      }
      case "--tcp-flags" -> {
        String[] f = v.split("\\s+");
        if (f.length != 2) {
          return "--tcp-flags needs a mask and a set of flags: " + v;
        }
        for (String part : (f[0] + "," + f[1]).split(",")) {
          if (!TCP_FLAGS.contains(part)) {
            return "not a TCP flag: " + part;
          }
        }
        return null;
      }
      case "--mark" -> {
        return mark(v);
      }
      case "--probability" -> {
        try {
          double p = Double.parseDouble(v);
          return p >= 0 && p <= 1 ? null : "--probability must be between 0 and 1: " + v;
        } catch (NumberFormatException e) {
          return "--probability is not a number: " + v;
        }
      }
      case "--every" -> {
        return number(v, 1, Integer.MAX_VALUE) ? null : "--every is not a positive number: " + v;
      }
      case "--packet" -> {
        return number(v, 0, Integer.MAX_VALUE) ? null : "--packet is not a number: " + v;
      }
      case "--mode" -> {
        return m.equals("statistic") && !v.equals("random") && !v.equals("nth")
            ? "statistic --mode is random or nth: " + v
            : null;
      }
      case "--ctstate", "--state" -> {
        return names(v, CT_STATES, "connection state");
      }
      case "--ctstatus" -> {
        return names(v, CT_STATUS, "connection status");
      }
      case "--ctorigdst", "--ctorigsrc", "--ctrepldst", "--ctreplsrc" -> {
        return cidrs(v);
      }
      case "--ctorigdstport", "--ctorigsrcport", "--ctrepldstport", "--ctreplsrcport" -> {
        return ports(v, false);
      }
      case "--ctdir" -> {
        return v.equals("ORIGINAL") || v.equals("REPLY") ? null : "--ctdir is ORIGINAL or REPLY";
      }
      case "--src-type", "--dst-type" -> {
        return names(v, AddrTypes.ALL, "address type");
      }
      case "--match-set" -> {
        String[] f = v.split("\\s+");
        if (f.length != 2 || f[0].isEmpty()) {
          return "--match-set needs a set name and directions: " + v;
        }
        for (String d : f[1].split(",")) {
          if (!d.equals("src") && !d.equals("dst")) {
            return "--match-set direction is src or dst: " + f[1];
          }
        }
        return null;
      }
      case "--src-range", "--dst-range" -> {
        String[] f = v.split("-");
        return f.length <= 2 && Ip.isIpv4(f[0]) && (f.length == 1 || Ip.isIpv4(f[1]))
            ? null
            : "not an address range: " + v;
      }
      case "--seconds", "--hitcount" -> {
        return number(v, 0, Integer.MAX_VALUE) ? null : o.flag() + " is not a number: " + v;
      }
      case "--mask" -> {
        return m.equals("recent") && !Ip.isIpv4(v) ? "--mask is not an address: " + v : null;
      }
      default -> {
        return null;
      }
    }
  }

  private static String target(Arg.Option o, String v) {
    return switch (o.flag()) {
      case "--to-destination", "--to-source" -> natRange(v);
      case "--to-ports" -> portRange(v);
      case "--set-xmark", "--set-mark", "--or-mark", "--and-mark", "--xor-mark" -> mark(v);
      default -> null;
    };
  }

  /** "ip[-ip][:port[-port]]" as DNAT and SNAT take it. */
  private static String natRange(String v) {
    String ips = v;
    int colon = v.lastIndexOf(':');
    if (colon >= 0) {
      ips = v.substring(0, colon);
      String bad = portRange(v.substring(colon + 1));
      if (bad != null) {
        return bad;
      }
    }
    for (String ip : ips.split("-", -1)) {
      if (!Ip.isIpv4(ip)) {
        return "not an address: " + ip;
      }
    }
    return null;
  }

  private static String portRange(String v) {
    String[] f = v.split("[-:]", -1);
    for (String p : f) {
      if (!number(p, 0, 65535)) {
        return "not a port: " + v;
      }
    }
    return f.length <= 2 ? null : "not a port range: " + v;
  }

  private static String cidrs(String list) {
    for (String c : list.split(",", -1)) {
      try {
        Cidr cidr = Cidr.parse(c);
        if (cidr.ipv6()) {
          return "an IPv6 prefix in IPv4 rules: " + c;
        }
      } catch (IllegalArgumentException e) {
        return "not an address or prefix: " + c;
      }
    }
    return null;
  }

  /** A port, "lo:hi", "lo:" or ":hi"; a comma list of them when {@code list}. */
  private static String ports(String v, boolean list) {
    String[] parts = list ? v.split(",", -1) : new String[] {v};
    if (list && parts.length > 15) {
      return "multiport takes at most 15 ports: " + v;
    }
    for (String part : parts) {
      String[] f = part.split(":", -1);
      if (f.length > 2 || part.isEmpty()) {
        return "not a port: " + part;
      }
      for (int i = 0; i < f.length; i++) {
        boolean openEnd = f.length == 2 && f[i].isEmpty() && !(f[0].isEmpty() && f[1].isEmpty());
        if (!openEnd && !number(f[i], 0, 65535)) {
          return "not a port: " + part;
        }
      }
    }
    return null;
  }

  /** "value[/mask]", each decimal or 0x hex, at most 32 bits. */
  private static String mark(String v) {
    String[] f = v.split("/", -1);
    if (f.length > 2) {
      return "not a mark: " + v;
    }
    for (String s : f) {
      String t = s.strip().toLowerCase(Locale.ROOT);
      boolean ok =
          t.startsWith("0x")
              ? t.length() > 2 && t.length() <= 10 && HEX.matcher(t.substring(2)).matches()
              : number(t, 0, 0xFFFFFFFFL);
      if (!ok) {
        return "not a mark: " + v;
      }
    }
    return null;
  }

  private static String names(String v, Set<String> allowed, String what) {
    for (String s : v.split(",", -1)) {
      if (!allowed.contains(s)) {
        return "not a " + what + ": " + s;
      }
    }
    return null;
  }

  static boolean number(String s, long lo, long hi) {
    if (s.isEmpty() || s.length() > 10) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) < '0' || s.charAt(i) > '9') {
        return false;
      }
    }
    long n = Long.parseLong(s);
    return n >= lo && n <= hi;
  }
}
