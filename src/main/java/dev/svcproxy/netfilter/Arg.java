package dev.svcproxy.netfilter;

import java.util.List;
import java.util.stream.Collectors;

/** One element of a rule, in the order it is written. */
public sealed interface Arg {

  /** The element as iptables-save prints it. */
  String print();

  /** A built-in match: -p, -s, -d, -i, -o (value) or -f (none). */
  record Param(boolean negated, String flag, Value value) implements Arg {
    @Override
    public String print() {
      String s = (negated ? "! " : "") + flag;
      return value == null ? s : s + " " + value.print();
    }
  }

  /** "-m name": loads a match module whose options follow. */
  record Module(String name) implements Arg {
    @Override
    public String print() {
      return "-m " + name;
    }
  }

  /** An option of a match module (module) or of the target (module = target name). */
  record Option(String module, boolean negated, String flag, List<Value> values, boolean ofTarget)
      implements Arg {
    public Option {
      values = List.copyOf(values);
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
    @Override
    public String print() {
      return (isGoto ? "-g " : "-j ") + target;
    }
  }
}
