package dev.svcproxy.netfilter;

import java.util.Objects;

/** One line inside a table section of iptables-save / iptables-restore text. */
public sealed interface Line {

  String print();

  /** ":NAME POLICY [packets:bytes]" — declares (and, in restore input, flushes) a chain. */
  record ChainDecl(String name, String policy, String counters) implements Line {
    public ChainDecl {
      SafeText.name("chain name", name);
      SafeText.name("policy of chain " + name, policy);
      if (counters != null) {
        SafeText.name("counters of chain " + name, counters);
      }
    }

    public boolean builtin() {
      return !policy.equals("-");
    }

    @Override
    public String print() {
      return ":" + name + " " + policy + (counters == null ? "" : " " + counters);
    }
  }

  /**
   * "-A CHAIN ...", with counters in front when the dump had them. A parsed line keeps its text:
   * some extensions print oddly (nfacct writes "--nfacct-name NAME" with two spaces).
   */
  record RuleLine(Rule rule, String raw) implements Line {
    public RuleLine {
      Objects.requireNonNull(rule);
    }

    public RuleLine(Rule rule) {
      this(rule, null);
    }

    /** The line as it was read (iptables-save's own spacing kept), or as the rule prints. */
    @Override
    public String print() {
      return raw != null
          ? SafeText.line("rule line of chain " + rule.chain(), raw)
          : rule.printWithCounters();
    }
  }

  /** "-X CHAIN": deletes a chain (restore input only). */
  record DeleteChain(String name) implements Line {
    public DeleteChain {
      SafeText.name("chain name", name);
    }

    @Override
    public String print() {
      return "-X " + name;
    }
  }

  /** A comment or other line kept verbatim. */
  record Verbatim(String text) implements Line {
    @Override
    public String print() {
      return SafeText.commentLine("kept line", text);
    }
  }
}
