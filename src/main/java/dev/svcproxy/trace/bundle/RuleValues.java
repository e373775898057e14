package dev.svcproxy.trace.bundle;

import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.TypedRule;
import dev.svcproxy.netfilter.Value;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Checks the values of a rule's options when the bundle is read, so that a value mangled in a
 * pasted dump is reported with its file and line, not met mid-trace. The values are read by {@link
 * TypedRule}, the one interpretation the tracer evaluates; only what depends on the bundle being
 * IPv4 iptables text (protocol and interface names, no IPv6 prefixes) is checked here.
 */
final class RuleValues {
  /** One bad element: the rule's elements that make it up, how it reads, and why it is wrong. */
  record Problem(List<Arg> args, String written, String reason) {
    Problem {
      args = List.copyOf(args);
    }
  }

  private static final java.util.regex.Pattern PROTOCOL =
      java.util.regex.Pattern.compile("[a-z][a-z0-9-]*");

  /** The module name that marks a rule whose values could not be read. */
  static final String UNREADABLE = "unreadable";

  private RuleValues() {}

  static List<Problem> check(Rule rule) {
    List<Problem> out = new ArrayList<>();
    for (Arg a : rule.args()) {
      String why = a instanceof Arg.Param p ? param(p) : null;
      if (why != null) {
        out.add(new Problem(List.of(a), a.print(), why));
      }
    }
    for (TypedRule.Problem p : TypedRule.problems(rule)) {
      if (out.stream().noneMatch(o -> o.args().equals(p.args()))) {
        out.add(new Problem(p.args(), p.written(), p.reason()));
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
      case "-s", "--source", "--src", "-d", "--destination", "--dst" -> ipv4Only(v);
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

  /** An IPv6 prefix cannot be in IPv4 rules (the bundle holds iptables, not ip6tables, text). */
  private static String ipv4Only(String list) {
    for (String c : list.split(",", -1)) {
      if (c.contains(":")) {
        return "an IPv6 prefix in IPv4 rules: " + c;
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
