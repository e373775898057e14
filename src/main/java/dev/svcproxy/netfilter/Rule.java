package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * One rule of a chain: its elements in written order, and the packet/byte counters when the dump
 * had them. Typed accessors read matches and the target without caring about element order.
 */
public record Rule(String chain, List<Arg> args, String counters) {

  private static final Pattern COUNTERS = Pattern.compile("\\[\\d+:\\d+\\]");
  private static final Pattern LEADING_COUNTERS = Pattern.compile("^\\[\\d+:\\d+\\]\\s+");

  /**
   * A line of {@code iptables-save -c} without the {@code [packets:bytes]} in front of a rule, as a
   * person writes the rule; other lines as they are.
   */
  public static String withoutCounters(String line) {
    return LEADING_COUNTERS.matcher(line).replaceFirst("");
  }

  public Rule {
    SafeText.name("chain name", chain);
    args = List.copyOf(args);
    if (counters != null
        && !COUNTERS.matcher(SafeText.value("rule counters", counters)).matches()) {
      throw new UnsafeTextException("rule counters", counters, "not [packets:bytes]");
    }
  }

  public Rule(String chain, List<Arg> args) {
    this(chain, args, null);
  }

  /** The jump, or empty for a rule without a target (a counting rule). */
  public Optional<Arg.Jump> jump() {
    return args.stream().filter(a -> a instanceof Arg.Jump).map(a -> (Arg.Jump) a).findFirst();
  }

  /** The target name, or "" when the rule has none. */
  public String target() {
    return jump().map(Arg.Jump::target).orElse("");
  }

  /** The modules loaded with -m, in order. */
  public List<String> modules() {
    List<String> out = new ArrayList<>();
    for (Arg a : args) {
      if (a instanceof Arg.Module m) {
        out.add(m.name());
      }
    }
    return out;
  }

  /** A built-in match such as "-s", if present. */
  public Optional<Arg.Param> param(String flag) {
    return args.stream()
        .filter(a -> a instanceof Arg.Param p && p.flag().equals(flag))
        .map(a -> (Arg.Param) a)
        .findFirst();
  }

  /** The options of match module {@code module} (or of the target, if it is the target name). */
  public List<Arg.Option> options(String module) {
    List<Arg.Option> out = new ArrayList<>();
    for (Arg a : args) {
      if (a instanceof Arg.Option o && o.module().equals(module)) {
        out.add(o);
      }
    }
    return out;
  }

  /** An option by flag, whichever module it belongs to. */
  public Optional<Arg.Option> option(String flag) {
    return args.stream()
        .filter(a -> a instanceof Arg.Option o && o.flag().equals(flag))
        .map(a -> (Arg.Option) a)
        .findFirst();
  }

  /** The comment, if the rule has one. */
  public Optional<String> comment() {
    return option("--comment").map(Arg.Option::text);
  }

  /** The rule as "-A CHAIN ..." without counters. */
  public String print() {
    StringBuilder b = new StringBuilder("-A ").append(chain);
    for (Arg a : args) {
      b.append(' ').append(a.print());
    }
    return b.toString();
  }

  /** The rule as iptables-save -c prints it, counters first when present. */
  public String printWithCounters() {
    return counters == null ? print() : counters + " " + print();
  }

  /** A rule of {@code chain} built element by element. */
  public static RuleBuilder in(String chain) {
    return new RuleBuilder(chain);
  }
}
