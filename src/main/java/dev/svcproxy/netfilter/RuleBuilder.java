package dev.svcproxy.netfilter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Builds a Rule in the order its elements are written, as iptables-restore input. */
public final class RuleBuilder {
  private final String chain;
  private final List<Arg> args = new ArrayList<>();
  private String module = "";
  private String target = "";

  RuleBuilder(String chain) {
    this.chain = chain;
  }

  /** "-m comment --comment TEXT" */
  public RuleBuilder comment(String text) {
    return module("comment").option("--comment", text);
  }

  public RuleBuilder module(String name) {
    args.add(new Arg.Module(name));
    module = name;
    return this;
  }

  /** An option of the module loaded last. */
  public RuleBuilder option(String flag, String... values) {
    return option(false, flag, values);
  }

  public RuleBuilder option(boolean negated, String flag, String... values) {
    args.add(new Arg.Option(module, negated, flag, values(values), false));
    return this;
  }

  public RuleBuilder param(String flag, String value) {
    return param(false, flag, value);
  }

  public RuleBuilder param(boolean negated, String flag, String value) {
    args.add(new Arg.Param(negated, flag, Value.of(value)));
    return this;
  }

  /** "-m proto -p proto": the module first, as upstream writes it. */
  public RuleBuilder protocol(String proto) {
    module(proto);
    return param("-p", proto);
  }

  /** Appends elements built elsewhere, such as a local-traffic detector's match. */
  public RuleBuilder args(List<Arg> more) {
    for (Arg a : more) {
      args.add(a);
      if (a instanceof Arg.Module m) {
        module = m.name();
      }
    }
    return this;
  }

  public RuleBuilder jump(String t) {
    args.add(new Arg.Jump(t, false));
    target = t;
    return this;
  }

  /** An option of the target. */
  public RuleBuilder targetOption(String flag, String... values) {
    args.add(new Arg.Option(target, false, flag, values(values), true));
    return this;
  }

  public Rule build() {
    return new Rule(chain, args);
  }

  private static List<Value> values(String... values) {
    return Arrays.stream(values).map(Value::of).toList();
  }
}
