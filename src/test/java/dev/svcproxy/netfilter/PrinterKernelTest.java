package dev.svcproxy.netfilter;

import static dev.svcproxy.netfilter.RuleGenerator.typed;
import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kernel is the oracle for quoting: values printed by the model are restored into a throw-away
 * namespace, read back with iptables-save, and must parse to the same typed rules.
 */
class PrinterKernelTest {
  private static Lab lab;
  private static CommandRunner node;

  @BeforeAll
  static void setUp() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static final List<String> HARD_TEXT =
      List.of(
          "say \"hi\" \\ it's",
          "\"",
          "\\",
          "trailing\\",
          "\\\"",
          "",
          "!",
          "-j ACCEPT",
          "-x",
          "--comment",
          "a b  c",
          " lead",
          "#hash",
          "ünïcödé ✓",
          "a\u00a0b",
          "ns1/svc1:p80 cluster IP",
          "plain_-09",
          "it's");

  /** Restores the rules into chain {@code chain} of filter and returns what iptables-save holds. */
  private static List<Rule> roundTrip(String chain, List<Rule> rules) {
    StringBuilder in = new StringBuilder("*filter\n:").append(chain).append(" - [0:0]\n");
    rules.forEach(r -> in.append(r.print()).append('\n'));
    in.append("COMMIT\n");
    CommandResult r =
        node.run(List.of("iptables-restore", "--noflush"), in.toString(), Duration.ofSeconds(30));
    assertThat(r.ok()).as(r.stderr() + "\n" + in).isTrue();
    String saved = node.run("iptables-save", "-t", "filter").orThrow().stdout();
    return IptablesCodec.parseStrict(saved, "iptables-save")
        .table("filter")
        .orElseThrow()
        .rules(chain);
  }

  @Test
  void print_hardComments_kernelStoresExactlyTheText() {
    List<Rule> rules = new ArrayList<>();
    for (String c : HARD_TEXT) {
      rules.add(Rule.in("H2-COMMENTS").comment(c).jump("ACCEPT").build());
    }
    List<Rule> saved = roundTrip("H2-COMMENTS", rules);
    assertThat(saved).hasSameSizeAs(rules);
    for (int i = 0; i < rules.size(); i++) {
      assertThat(saved.get(i).comment()).as(HARD_TEXT.get(i)).contains(HARD_TEXT.get(i));
      assertThat(typed(saved.get(i))).isEqualTo(rules.get(i));
    }
  }

  @Test
  void print_negatedAndQuotedMatchesAndTargetOptions_kernelSavesTheSameTypedRules() {
    List<Rule> rules =
        List.of(
            Rule.in("H2-MATCH")
                .param(true, "-s", "10.0.0.0/8")
                .param("-d", "10.96.0.1/32")
                .param("-p", "tcp")
                .module("comment")
                .option("--comment", "x \"y\" z")
                .module("tcp")
                .option(true, "--dport", "80")
                .jump("LOG")
                .targetOption("--log-prefix", "pre \"fix\\ ")
                .build(),
            Rule.in("H2-MATCH")
                .param(true, "-i", "eth0")
                .module("conntrack")
                .option(true, "--ctstate", "RELATED,ESTABLISHED")
                .jump("DROP")
                .build());
    List<Rule> saved = roundTrip("H2-MATCH", rules);
    assertThat(saved).extracting(RuleGenerator::typed).isEqualTo(rules);
  }
}
