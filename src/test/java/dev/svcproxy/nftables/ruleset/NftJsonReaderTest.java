package dev.svcproxy.nftables.ruleset;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.testutil.States;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The reader on `nft -j list ruleset` output of nft 1.0.6 (the kernel's JSON of misc.nft and of
 * upstream's TestOverallNFTablesRules table, captured in a lab namespace): what misc.nft and
 * base.nft declare, read back.
 */
class NftJsonReaderTest {
  private static Ruleset misc() {
    return NftJsonReader.read(States.resource("/nftables/misc.json"), "misc.json");
  }

  @Test
  void read_namedPriorities_resolvedAsTheKernelPrintsThem() {
    Ruleset.Table t = misc().tables().get(0);
    assertThat(t.label()).isEqualTo("inet misc");
    Ruleset.Chain pre = t.chain("pre").orElseThrow();
    assertThat(pre.hook()).isEqualTo("prerouting");
    assertThat(pre.priority()).isEqualTo(-160); // mangle - 10
    assertThat(pre.policy()).isEqualTo("accept");
    Ruleset.Chain fwd = t.chain("forwarding").orElseThrow();
    assertThat(fwd.priority()).isEqualTo(5); // filter + 5
    assertThat(fwd.policy()).isEqualTo("drop");
    assertThat(t.chain("marks").orElseThrow().isBase()).isFalse();
  }

  @Test
  void read_intervalSetsConcatenationsAndTimeouts_keptAsTyped() {
    Ruleset.Table t = misc().tables().get(0);
    assertThat(t.set("blocked").orElseThrow().elements())
        .extracting(Ruleset.Element::key)
        .containsExactly(
            new Expr.Prefix("198.51.100.0", 24),
            new Expr.Range(Expr.Literal.of("203.0.113.10"), Expr.Literal.of("203.0.113.20")));
    assertThat(t.set("pairs").orElseThrow().type()).containsExactly("ipv4_addr", "inet_service");
    assertThat(t.set("pairs").orElseThrow().elements().get(0).key())
        .isEqualTo(
            new Expr.Concat(
                List.of(
                    new Expr.Prefix("10.1.0.0", 16),
                    new Expr.Range(Expr.Literal.of(8000), Expr.Literal.of(8999)))));
    Ruleset.NamedSet seen = t.set("seen").orElseThrow();
    assertThat(seen.timeout()).isEqualTo(3600L);
    assertThat(seen.elements().get(0).timeout()).isEqualTo(1800L);
    assertThat(seen.elements().get(0).key()).isEqualTo(Expr.Literal.of("10.9.9.9"));
    Ruleset.NamedSet ports = t.set("ports").orElseThrow();
    assertThat(ports.isMap()).isTrue();
    assertThat(ports.elements())
        .extracting(Ruleset.Element::value)
        .containsExactly(new Expr.VerdictExpr("accept", null), new Expr.VerdictExpr("drop", null));
  }

  @Test
  void read_rulesKeepHandlesCommentsAndStatementsInOrder() {
    Ruleset.Chain pre = misc().tables().get(0).chain("pre").orElseThrow();
    Ruleset.Rule first = pre.rules().get(0);
    assertThat(first.handle()).isEqualTo(8);
    assertThat(first.comment()).isEqualTo("blocked sources");
    assertThat(first.statements())
        .containsExactly(
            new Stmt.Match("==", new Expr.Payload("ip", "saddr"), new Expr.SetRef("blocked")),
            new Stmt.Passive("counter", "{\"counter\":{\"packets\":0,\"bytes\":0}}"),
            new Stmt.Verdict("drop", null));
    assertThat(NftPrinter.rule(first))
        .isEqualTo("ip saddr @blocked counter drop comment \"blocked sources\"");
  }

  @Test
  void read_kubeProxyTable_vmapsNumgenAndElementComments() {
    Ruleset.Table t =
        NftJsonReader.read(States.resource("/nftables/overall.json"), "overall.json")
            .tables()
            .get(0);
    assertThat(t.label()).isEqualTo("ip kube-proxy");
    assertThat(t.chain("nat-prerouting").orElseThrow().priority()).isEqualTo(-100);
    assertThat(t.chain("filter-prerouting-pre-dnat").orElseThrow().priority()).isEqualTo(-110);
    assertThat(t.set("no-endpoint-services").orElseThrow().elements())
        .anySatisfy(
            e -> {
              assertThat(e.comment()).isEqualTo("ns6/svc6:p80");
              assertThat(e.value()).isEqualTo(new Expr.VerdictExpr("goto", "reject-chain"));
            });
    Ruleset.Rule lb = t.chain("service-LAUZTJTB-ns4/svc4/tcp/p80").orElseThrow().rules().get(1);
    assertThat(lb.statements().get(0))
        .isInstanceOfSatisfying(
            Stmt.VerdictMap.class,
            v -> {
              assertThat(v.key()).isEqualTo(new Expr.Numgen("random", 2, 0));
              assertThat(((Expr.AnonSet) v.data()).elements()).hasSize(2);
            });
  }

  @Test
  void read_unknownStatement_keptAsJson() {
    String json =
        """
        {"nftables": [{"table": {"family": "ip", "name": "t", "handle": 1}},
          {"chain": {"family": "ip", "table": "t", "name": "c", "handle": 2}},
          {"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 3,
            "expr": [{"xt": {"type": "match", "name": "recent"}}, {"accept": null}]}}]}
        """;
    Ruleset.Rule r =
        NftJsonReader.read(json, "x.json").tables().get(0).chains().get(0).rules().get(0);
    assertThat(r.statements().get(0))
        .isEqualTo(new Stmt.Unknown("xt", "{\"xt\":{\"type\":\"match\",\"name\":\"recent\"}}"));
  }

  @Test
  void read_ruleOfUndeclaredChain_errorNamesFileAndPath() {
    String json =
        """
        {"nftables": [{"metainfo": {}}, {"table": {"family": "ip", "name": "t", "handle": 1}},
          {"rule": {"family": "ip", "table": "t", "chain": "nope", "handle": 3, "expr": []}}]}
        """;
    assertThatThrownBy(() -> NftJsonReader.read(json, "nft-ruleset.json"))
        .hasMessage(
            "nft-ruleset.json: $.nftables[2].rule: rule of chain nope, which is not declared"
                + " before it");
  }

  @Test
  void read_notRulesetJson_errorNamesFile() {
    assertThatThrownBy(() -> NftJsonReader.read("{\"foo\": 1}", "nft-ruleset.json"))
        .hasMessageStartingWith("nft-ruleset.json: $: no \"nftables\" array");
    assertThatThrownBy(
            () ->
                NftJsonReader.read(
                    "{\"nftables\": [{\"chain\": {\"family\": \"ip\", \"table\": \"t\"}}]}",
                    "b.json"))
        .hasMessage("b.json: $.nftables[0].chain: table ip t is not declared before it");
  }

  /**
   * nft prints priorities as numbers, but JSON written by hand (or converted from text) may name
   * them: nft(8)'s table for ip/inet, with an offset.
   */
  @Test
  void read_priorityNames_resolvedForIpFamilies() {
    String json =
        """
        {"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}},
          {"chain": {"family": "inet", "table": "t", "name": "a", "handle": 2, "type": "filter",
            "hook": "prerouting", "prio": "mangle - 10", "policy": "accept"}},
          {"chain": {"family": "inet", "table": "t", "name": "b", "handle": 3, "type": "nat",
            "hook": "prerouting", "prio": "dstnat", "policy": "accept"}},
          {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 4, "type": "nat",
            "hook": "postrouting", "prio": "srcnat + 5", "policy": "accept"}},
          {"chain": {"family": "inet", "table": "t", "name": "d", "handle": 5, "type": "filter",
            "hook": "prerouting", "prio": "raw", "policy": "accept"}},
          {"chain": {"family": "inet", "table": "t", "name": "e", "handle": 6, "type": "filter",
            "hook": "input", "prio": "security", "policy": "accept"}}]}
        """;
    assertThat(NftJsonReader.read(json, "p.json").tables().get(0).chains())
        .extracting(Ruleset.Chain::priority)
        .containsExactly(-160, -100, 105, -300, 50);
  }
}
