package dev.svcproxy.nftables.text;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

/** Structure errors and what is kept when a statement is not understood; no kernel needed. */
class NftTextConverterTest {

  private static NftTextException error(String text) {
    try {
      NftTextConverter.toJson("pasted.txt", text);
    } catch (NftTextException e) {
      return e;
    }
    throw new AssertionError("no error for:\n" + text);
  }

  @Test
  void toJson_unclosedTableBrace_reportsFileLineColumnOfTheBrace() {
    NftTextException e = error("table ip t {\n\tchain c {\n\t\taccept\n\t}\n");
    assertThat(e.getMessage()).startsWith("pasted.txt:1:12: ").contains("unbalanced '{'");
    assertThat(e.line()).isEqualTo(1);
    assertThat(e.column()).isEqualTo(12);
  }

  @Test
  void toJson_extraClosingBrace_reportsItsPlace() {
    NftTextException e = error("table ip t {\n}\n}\n");
    assertThat(e.getMessage()).startsWith("pasted.txt:3:1: ").contains("unbalanced '}'");
  }

  @Test
  void toJson_unknownTopLevelKeyword_reportsLineAndColumn() {
    NftTextException e = error("table ip t {\n}\n  frobnicate ip t\n");
    assertThat(e.getMessage()).isEqualTo("pasted.txt:3:3: unknown top-level keyword 'frobnicate'");
  }

  @Test
  void toJson_unknownKeywordInTable_reportsIt() {
    NftTextException e = error("table ip t {\n\tbogus x\n}\n");
    assertThat(e.getMessage()).startsWith("pasted.txt:2:2: unknown keyword 'bogus'");
  }

  @Test
  void toJson_ruleForMissingChain_reportsTheChain() {
    NftTextException e = error("add table ip t\nadd rule ip t nochain accept\n");
    assertThat(e.getMessage()).isEqualTo("pasted.txt:2:15: no chain nochain in table ip t");
  }

  @Test
  void toJson_unknownStatement_keepsTheRuleWithTheRestUnparsed() {
    JsonNode j =
        NftTextConverter.toJson(
            "x",
            "table inet t {\n\tchain c {\n\t\ttcp dport 22 osf name \"Linux\" drop comment \"c\" # handle 7\n\t}\n}\n");
    JsonNode rule = j.get("nftables").get(3).get("rule");
    assertThat(rule.get("handle").asLong()).isEqualTo(7);
    assertThat(rule.get("comment").asText()).isEqualTo("c");
    assertThat(rule.get("expr")).hasSize(2);
    assertThat(rule.get("expr").get(1).get("svcproxy-unparsed").asText())
        .isEqualTo("osf name \"Linux\" drop");
  }

  @Test
  void toJson_tableLevelObjectNotUnderstood_isKeptAsUnparsedEntry() {
    JsonNode j =
        NftTextConverter.toJson(
            "x",
            "table inet fw {\n\tct helper tftp {\n\t\ttype \"tftp\" protocol udp\n\t}\n\tchain c {\n\t\taccept\n\t}\n}\n");
    JsonNode obj = j.get("nftables").get(2).get("svcproxy-unparsed");
    assertThat(obj.get("table").asText()).isEqualTo("fw");
    assertThat(obj.get("text").asText()).startsWith("ct helper tftp {");
    assertThat(j.get("nftables").get(4).get("rule").get("expr").get(0).has("accept")).isTrue();
  }

  @Test
  void toJson_shellPromptsAroundListing_areSkipped() {
    JsonNode j =
        NftTextConverter.toJson(
            "x", "$ sudo nft -a list ruleset\ntable ip t { # handle 3\n}\nuser@host:~$ \n");
    assertThat(j.get("nftables")).hasSize(2);
    assertThat(j.get("nftables").get(1).get("table").get("handle").asLong()).isEqualTo(3);
  }
}
