package dev.svcproxy.netfilter;

import static dev.svcproxy.netfilter.RuleGenerator.typed;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.testutil.States;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The codec keeps a rule's meaning, not just its text: printing a typed rule and parsing it back
 * gives the same typed rule, and what a printed line means to iptables-restore (its argv, read by
 * an independent splitter) is what the model says.
 */
class CodecStructureTest {
  private static final int GENERATED = 3000;

  @Test
  void parse_printedGeneratedRule_isTheSameTypedRule() {
    RuleGenerator gen = new RuleGenerator(6);
    for (int i = 0; i < GENERATED; i++) {
      Rule r = gen.next();
      String line = r.printWithCounters();
      assertThat(typed(IptablesCodec.parseRule(line))).as("rule %d: %s", i, line).isEqualTo(r);
    }
  }

  @Test
  void print_generatedRule_meansToIptablesWhatTheModelSays() {
    RuleGenerator gen = new RuleGenerator(7);
    for (int i = 0; i < GENERATED; i++) {
      Rule r = gen.next();
      String line = r.print();
      assertThat(RestoreArgv.of(line))
          .as("rule %d: %s", i, line)
          .isEqualTo(RestoreArgv.expected(r));
    }
  }

  @Test
  void generator_coversNegationsQuotingAndEveryKindOfElement() {
    // The generated set must hold what the round trip is meant to protect.
    RuleGenerator gen = new RuleGenerator(6);
    int negParams = 0;
    int negOptions = 0;
    int sources = 0;
    int quoted = 0;
    int gotos = 0;
    int targetOptions = 0;
    int counters = 0;
    for (int i = 0; i < GENERATED; i++) {
      Rule r = gen.next();
      counters += r.counters() != null ? 1 : 0;
      for (Arg a : r.args()) {
        if (a instanceof Arg.Param p) {
          negParams += p.negated() ? 1 : 0;
          sources += p.flag().equals("-s") ? 1 : 0;
        } else if (a instanceof Arg.Option o) {
          negOptions += o.negated() ? 1 : 0;
          targetOptions += o.ofTarget() ? 1 : 0;
          quoted += o.values().stream().anyMatch(v -> v.print().startsWith("\"")) ? 1 : 0;
        } else if (a instanceof Arg.Jump j) {
          gotos += j.isGoto() ? 1 : 0;
        }
      }
    }
    assertThat(List.of(negParams, negOptions, sources, quoted, gotos, targetOptions, counters))
        .allSatisfy(n -> assertThat(n).isGreaterThan(100));
  }

  static Stream<Arguments> dumpLines() {
    List<Arguments> out = new ArrayList<>();
    for (String path :
        List.of(
            "/dumps/nft-counters.txt",
            "/dumps/legacy-docker.txt",
            "/golden/overall/expected.txt")) {
      String[] lines = States.resource(path).split("\n");
      for (int i = 0; i < lines.length; i++) {
        String l = lines[i];
        if (l.startsWith("-A ") || (l.startsWith("[") && l.contains("] -A "))) {
          out.add(Arguments.of(path + ":" + (i + 1), l));
        }
      }
    }
    return out.stream();
  }

  @Test
  void dumpLines_areMany() {
    assertThat(dumpLines().count()).isGreaterThan(90);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dumpLines")
  void parse_realSavedLine_structureMeansWhatIptablesReads(String where, String line) {
    Rule parsed = IptablesCodec.parseRule(line);
    List<String> argv = RestoreArgv.of(RestoreArgv.withoutCounters(line));
    // Nothing dropped, added or reordered: the model reads back as the line's own argv.
    assertThat(RestoreArgv.expected(parsed)).isEqualTo(argv);
    // Printed from the structure alone (no kept tokens), it is the same argv and the same rule.
    Rule structural = typed(parsed);
    assertThat(RestoreArgv.of(structural.print())).isEqualTo(argv);
    assertThat(typed(IptablesCodec.parseRule(structural.printWithCounters())))
        .isEqualTo(structural);
    // And the kept text prints back exactly, as the tracer and resync rely on.
    assertThat(parsed.printWithCounters()).isEqualTo(line.replace("  ", " "));
  }

  private static Value v(String text) {
    return Value.of(text);
  }

  @Test
  void parse_negatedSource_isANegatedParamWithTheCidr() {
    Rule r = typed(IptablesCodec.parseRule("-A X ! -s 10.0.0.0/8 -j ACCEPT"));
    assertThat(r.args())
        .containsExactly(new Arg.Param(true, "-s", v("10.0.0.0/8")), new Arg.Jump("ACCEPT", false));
  }

  @Test
  void parse_kubeProxyServiceRule_readsEveryElementInOrder() {
    Rule r =
        typed(
            IptablesCodec.parseRule(
                "[3:180] -A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment"
                    + " --comment \"default/kubernetes:https cluster IP\" -m tcp --dport 443"
                    + " -j KUBE-MARK-MASQ"));
    assertThat(r.chain()).isEqualTo("KUBE-SVC-X");
    assertThat(r.counters()).isEqualTo("[3:180]");
    assertThat(r.args())
        .containsExactly(
            new Arg.Param(true, "-s", v("10.244.0.0/16")),
            new Arg.Param(false, "-d", v("10.96.0.1/32")),
            new Arg.Param(false, "-p", v("tcp")),
            new Arg.Module("comment"),
            new Arg.Option(
                "comment",
                false,
                "--comment",
                List.of(v("default/kubernetes:https cluster IP")),
                false),
            new Arg.Module("tcp"),
            new Arg.Option("tcp", false, "--dport", List.of(v("443")), false),
            new Arg.Jump("KUBE-MARK-MASQ", false));
  }

  @Test
  void parse_negatedOptionsMultiValuesFragmentAndGoto_readAsWritten() {
    Rule r =
        typed(
            IptablesCodec.parseRule(
                "-A X ! -f -p tcp -m tcp --tcp-flags SYN,RST,ACK SYN ! --syn"
                    + " -m conntrack ! --ctstate RELATED,ESTABLISHED -g KUBE-Y"));
    assertThat(r.args())
        .containsExactly(
            new Arg.Param(true, "-f", null),
            new Arg.Param(false, "-p", v("tcp")),
            new Arg.Module("tcp"),
            new Arg.Option("tcp", false, "--tcp-flags", List.of(v("SYN,RST,ACK"), v("SYN")), false),
            new Arg.Option("tcp", true, "--syn", List.of(), false),
            new Arg.Module("conntrack"),
            new Arg.Option(
                "conntrack", true, "--ctstate", List.of(v("RELATED,ESTABLISHED")), false),
            new Arg.Jump("KUBE-Y", true));
  }

  @Test
  void parse_targetOptions_belongToTheTarget() {
    Rule r =
        typed(
            IptablesCodec.parseRule(
                "-A X -p tcp -m tcp -j DNAT --to-destination 10.180.0.1:80 --persistent"));
    assertThat(r.args().subList(2, 5))
        .containsExactly(
            new Arg.Jump("DNAT", false),
            new Arg.Option("DNAT", false, "--to-destination", List.of(v("10.180.0.1:80")), true),
            new Arg.Option("DNAT", false, "--persistent", List.of(), true));
  }

  @Test
  void parse_protocolOptionAfterConntrack_belongsToTheProtocol() {
    // iptables loads tcp implicitly for --dport; conntrack has no such option.
    Rule r = IptablesCodec.parseRule("-A X -p tcp -m conntrack --ctstate NEW --dport 80 -j ACCEPT");
    assertThat(r.options("tcp")).extracting(Arg.Option::flag).containsExactly("--dport");
    assertThat(r.options("conntrack")).extracting(Arg.Option::flag).containsExactly("--ctstate");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        // As iptables-save 1.8.9 printed these comments (quotes, backslash and ' escaped), and
        // the comment the kernel held.
        "\"say \\\"hi\\\" \\\\ it\\'s\"|say \"hi\" \\ it's",
        "\"a/b:c\"|a/b:c",
        "plain_-09|plain_-09",
        "\"\"|",
        "-x|-x",
        "--x|--x",
        // As iptables-restore reads hand-written input (seen on the kernel).
        "a\\b|a\\b",
        "\"x\\y\\\"z\"|xy\"z",
        "it's|it's",
        "ab\"c d\"|abc d"
      })
  void parse_commentAsWritten_readsTheTextIptablesStores(String both) {
    String[] f = both.split("\\|", -1);
    Rule r = IptablesCodec.parseRule("-A X -m comment --comment " + f[0] + " -j ACCEPT");
    assertThat(r.comment()).contains(f[1]);
    assertThat(r.args()).hasSize(3);
  }

  @Test
  void parse_closingQuoteMidToken_endsTheArgumentAsIptablesDoes() {
    // iptables-restore: --comment "c d"e is the comment "c d" and a stray argument "e", which it
    // refuses ("Bad argument `e'").
    assertThatThrownBy(
            () -> IptablesCodec.parseRule("-A X -m comment --comment \"c d\"e -j ACCEPT"))
        .hasMessage("unexpected \"e\"");
  }
}
