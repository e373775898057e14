package dev.svcproxy.netfilter;

import java.util.List;
import java.util.stream.Collectors;

/** One element of a rule, in the order it is written. */
public sealed interface Arg {

  /** The element as iptables-save prints it. */
  String print();

  /** A built-in match: -p, -s, -d, -i, -o (value) or -f (none). */
  record Param(boolean negated, String flag, Value value) implements Arg {
    public Param {
      SafeText.name("match flag", flag);
      if (value != null) {
        value.check("value of " + flag);
      }
    }

    @Override
    public String print() {
      String s = (negated ? "! " : "") + flag;
      return value == null ? s : s + " " + value.print();
    }
  }

  /** "-m name": loads a match module whose options follow. */
  record Module(String name) implements Arg {
    public Module {
      SafeText.name("module name", name);
    }

    @Override
    public String print() {
      return "-m " + name;
    }
  }

  /** An option of a match module (module) or of the target (module = target name). */
  record Option(String module, boolean negated, String flag, List<Value> values, boolean ofTarget)
      implements Arg {
    public Option {
      SafeText.name("option flag", flag);
      // The owner is never printed, but it names a module or target, so the same rules hold.
      SafeText.value("module of " + flag, module);
      values = List.copyOf(values);
      for (Value v : values) {
        v.check("value of " + flag);
      }
    }

    /** The values joined by a space, "" when the option has none. */
    public String text() {
      return values.stream().map(Value::text).collect(Collectors.joining(" "));
    }

    @Override
    public String print() {
      StringBuilder b = new StringBuilder();
      if (negated) {
        b.append("! ");
      }
      b.append(flag);
      for (Value v : values) {
        b.append(' ').append(v.print());
      }
      return b.toString();
    }
  }

  /** "-j TARGET" or "-g CHAIN". */
  record Jump(String target, boolean isGoto) implements Arg {
    public Jump {
      SafeText.name("target", target);
    }

    @Override
    public String print() {
      return (isGoto ? "-g " : "-j ") + target;
    }
  }
}
