package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Pasted dumps are cut, mangled and mixed; the codec answers every odd line with a warning
 * "file:line: reason" (the line shown escaped) and goes on, and never throws while reading.
 */
class CodecOddInputTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '\'',
      value = {
        "-A X -m comment --comment \"open -j DROP|unterminated quote in \"\\\"open -j DROP\"",
        "-A X -m comment --comment \"ends in backslash\\|unterminated quote",
        "-A|-A needs a chain name",
        "--append|--append needs a chain name",
        "-X|-X needs a chain name",
        "-A X -s|-s needs a value",
        "-A X -m|-m needs a module name",
        "-A X -j|-j needs a target",
        "-A X -m comment --comment|--comment needs a value",
        "-A X ! -s 1.2.3.4 !|\"!\" at the end of the rule negates nothing",
        "-A X ! ! -s 1.2.3.4|\"!\" twice",
        "-A X stray -j ACCEPT|unexpected \"stray\"",
        "[1:2]|not understood: \"\"",
        "[1:2|counters are \"[packets:bytes]\"",
        ":|a chain line is",
        ":X|a chain line is",
        "garbage|not understood: \"garbage\"",
      })
  void parse_oddLine_warnsWithFileLineAndReason(String line, String reason) {
    IptablesCodec.Result r =
        IptablesCodec.parse("*filter\n:INPUT ACCEPT [0:0]\n" + line + "\nCOMMIT\n", "paste.txt");
    assertThat(r.warnings())
        .singleElement()
        .asString()
        .startsWith("paste.txt:3: ")
        .contains(reason);
    assertThat(r.ruleset().table("filter")).isPresent();
    assertThatThrownBy(
            () ->
                IptablesCodec.parseStrict(
                    line.isEmpty() ? "x" : "*filter\n" + line + "\nCOMMIT\n", "in.txt"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("in.txt:2: ");
  }

  @Test
  void parse_controlCharacterInAValue_warnsEscapedAndSkipsOnlyThatLine() {
    String text =
        "*filter\n:INPUT ACCEPT [0:0]\n"
            + "-A INPUT -m comment --comment \"tab\there\" -j ACCEPT\n"
            + "-A INPUT -m comment --comment \u001b[31mred -j ACCEPT\n"
            + "-A INPUT -j DROP\nCOMMIT\n";
    IptablesCodec.Result r = IptablesCodec.parse(text, "p");
    assertThat(r.warnings())
        .extracting(ParseWarning::toString)
        .containsExactly(
            "p:3: refused value of --comment \"tab\\there\": control character U+0009 at index 3",
            "p:4: refused value of --comment \"\\u001B[31mred\": control character U+001B at index 0");
    assertThat(r.ruleset().table("filter").orElseThrow().rules()).hasSize(1);
  }

  @Test
  void parse_badTableName_warnsAndSkipsThatTableOnly() {
    IptablesCodec.Result r =
        IptablesCodec.parse("*nat x\n-A X -j Y\nCOMMIT\n*filter\n-A INPUT -j DROP\nCOMMIT\n", "p");
    assertThat(r.warnings())
        .singleElement()
        .asString()
        .isEqualTo(
            "p:1: refused table name \"nat x\": U+0020 at index 3 would split the token;"
                + " lines up to its COMMIT are skipped");
    assertThat(r.ruleset().tables()).extracting(Table::name).containsExactly("filter");
  }

  @Test
  void parse_tableHeaderBeforeCommit_closesTheCutTableAndReadsTheNext() {
    IptablesCodec.Result r =
        IptablesCodec.parse(
            "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j X\n*filter\n-A INPUT -j DROP\nCOMMIT\n",
            "p");
    assertThat(r.warnings())
        .extracting(ParseWarning::toString)
        .containsExactly("p:4: table nat has no COMMIT before this table header");
    assertThat(r.ruleset().table("nat").orElseThrow().rules()).hasSize(1);
    assertThat(r.ruleset().table("filter").orElseThrow().rules("INPUT")).hasSize(1);
  }

  @Test
  void parse_crlfDump_readsTheRulesAndPrintsRestorableText() {
    IptablesCodec.Result r =
        IptablesCodec.parse(
            "*filter\r\n:INPUT ACCEPT [0:0]\r\n-A INPUT -j DROP\r\nCOMMIT\r\n", "p");
    assertThat(r.warnings()).isEmpty();
    assertThat(r.ruleset().print())
        .isEqualTo("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n");
  }

  @Test
  void parseRule_oddText_namesItEscaped() {
    assertThatThrownBy(() -> IptablesCodec.parseRule(":X ACCEPT"))
        .hasMessage("not a rule: \":X ACCEPT\"");
    assertThatThrownBy(() -> IptablesCodec.parseRule("-A\u0000X")).hasMessageContaining("\\0");
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "-A X -j MARK --set-mark /",
        "-A X -m mark --mark /",
        "-A X -j MARK --set-xmark 1/2/3",
        "-A X -j CONNMARK --set-mark 0x/",
        "-A X -m statistic --mode random --probability x"
      })
  void key_oddMarkOrProbability_comparesTheRuleAsWritten(String line) {
    Rule r = IptablesCodec.parseRule(line);
    assertThat(RuleCanon.key(r)).isEqualTo(line.substring("-A X ".length()));
  }

  private static final List<String> PIECES =
      List.of(
          "-A",
          "X",
          "KUBE-SVC-ABC",
          "\"",
          "\\",
          "!",
          "-s",
          "10.0.0.1",
          "[",
          "]",
          "[0:0]",
          ":",
          "*nat",
          "*filter",
          "COMMIT",
          "-m",
          "comment",
          "--comment",
          "-j",
          "-g",
          "ACCEPT",
          "-p",
          "tcp",
          "--dport",
          "-X",
          "#",
          " ",
          "  ",
          "\t",
          "\r",
          "\u0000",
          "\u0085",
          "\u2028",
          "\u001b[0m",
          "é",
          "\"a b\"",
          "-f",
          "--set-xmark",
          "0x4000/",
          "/",
          "--probability",
          "NaN",
          "-m statistic --mode random",
          "-j MARK",
          "--set-mark",
          "--or-mark",
          "0xZZ");

  @Test
  void parse_seededRandomPastes_neverThrowAndEveryWarningIsOneSafeLine() {
    Random rnd = new Random(36);
    for (int n = 0; n < 3000; n++) {
      StringBuilder text = new StringBuilder();
      int lines = 1 + rnd.nextInt(8);
      for (int l = 0; l < lines; l++) {
        int k = rnd.nextInt(12);
        for (int i = 0; i < k; i++) {
          text.append(PIECES.get(rnd.nextInt(PIECES.size())));
          if (rnd.nextBoolean()) {
            text.append(' ');
          }
        }
        text.append('\n');
      }
      String in = text.toString();
      IptablesCodec.Result r = IptablesCodec.parse(in, "f.txt");
      for (ParseWarning w : r.warnings()) {
        assertThat(w.toString()).as(in).matches("f\\.txt:\\d+: .+");
        assertThat(w.toString().chars().noneMatch(c -> SafeText.isUnsafe((char) c)))
            .as(in)
            .isTrue();
      }
      for (Table t : r.ruleset().tables()) {
        for (Rule rule : t.rules()) {
          RuleCanon.key(rule);
          assertThat(rule.print().chars().noneMatch(c -> SafeText.isUnsafe((char) c))).isTrue();
        }
      }
    }
  }
}
