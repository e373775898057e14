package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.testutil.States;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class IptablesCodecTest {

  @ParameterizedTest
  @ValueSource(
      strings = {
        "/dumps/nft-counters.txt",
        "/dumps/legacy-docker.txt",
        "/golden/overall/expected.txt"
      })
  void parse_realDump_printsBackExactly(String path) {
    String text = States.resource(path);
    IptablesCodec.Result r = IptablesCodec.parse(text, path);
    assertThat(r.warnings()).isEmpty();
    assertThat(r.ruleset().print()).isEqualTo(text);
  }

  @Test
  void parse_nftFlavourWithCounters_readsTypedMatchesAndTarget() {
    Ruleset rs = IptablesCodec.parseStrict(States.resource("/dumps/nft-counters.txt"), "dump");
    Table nat = rs.table("nat").orElseThrow();
    Rule svc = nat.rules("KUBE-SVC-WB3MK3LNQLB56VT3").get(0);
    assertThat(svc.counters()).isEqualTo("[0:0]");
    assertThat(svc.param("-s").orElseThrow().negated()).isTrue();
    assertThat(svc.param("-s").orElseThrow().value().text()).isEqualTo("10.244.0.0/16");
    assertThat(svc.comment()).contains("default/self:http cluster IP");
    assertThat(svc.options("tcp")).extracting(Arg.Option::flag).containsExactly("--dport");
    assertThat(svc.target()).isEqualTo("KUBE-MARK-MASQ");
    Rule masq = nat.rules("KUBE-POSTROUTING").get(2);
    assertThat(masq.options("MASQUERADE"))
        .extracting(Arg.Option::flag)
        .containsExactly("--random-fully");
    assertThat(nat.chainDecl("PREROUTING").orElseThrow().builtin()).isTrue();
    assertThat(nat.chains()).containsKey("KUBE-SEP-KFZS5257XG5LNRMO");
  }

  @Test
  void parse_legacyFlavour_attributesOptionsToTheirModules() {
    Ruleset rs = IptablesCodec.parseStrict(States.resource("/dumps/legacy-docker.txt"), "dump");
    Rule recent = rs.table("nat").orElseThrow().rules("KUBE-SVC-X").get(1);
    assertThat(recent.options("recent"))
        .extracting(Arg.Option::flag)
        .containsExactly("--rcheck", "--seconds", "--reap", "--name", "--mask", "--rsource");
    Rule dnat = rs.table("nat").orElseThrow().rules("DOCKER").get(1);
    assertThat(dnat.param("-i").orElseThrow().negated()).isTrue();
    assertThat(dnat.option("--to-destination").orElseThrow().text()).isEqualTo("172.17.0.2:80");
    assertThat(rs.table("filter").orElseThrow().chainDecl("FORWARD").orElseThrow().policy())
        .isEqualTo("DROP");
  }

  @Test
  void parse_protocolOptionAfterOtherModule_belongsToProtocol() {
    Rule r = IptablesCodec.parseRule("-A X -m comment --comment hi -p tcp --dport 80 -j ACCEPT");
    assertThat(r.options("tcp")).extracting(Arg.Option::text).containsExactly("80");
    assertThat(r.options("comment")).extracting(Arg.Option::text).containsExactly("hi");
  }

  @Test
  void parse_quotedCommentWithEscapes_keepsTextAndRaw() {
    Rule r = IptablesCodec.parseRule("-A X -m comment --comment \"say \\\"hi\\\" now\" -j DROP");
    assertThat(r.comment()).contains("say \"hi\" now");
    assertThat(r.print()).isEqualTo("-A X -m comment --comment \"say \\\"hi\\\" now\" -j DROP");
  }

  @Test
  void parse_pastedNoise_warnsWithLineNumbersAndKeepsTheRest() {
    String text =
        "root@node:~# iptables-save\n"
            + "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n"
            + "*filter\n"
            + ":INPUT ACCEPT [0:0]\n"
            + "-A INPUT -j ACCEPT\n"
            + "this is not a rule\n"
            + "-A INPUT -m comment --comment \"unterminated -j DROP\n"
            + "COMMIT\n";
    IptablesCodec.Result r = IptablesCodec.parse(text, "paste.txt");
    assertThat(r.warnings()).extracting(ParseWarning::line).containsExactly(1, 6, 7);
    assertThat(r.warnings().get(0).toString()).startsWith("paste.txt:1:");
    assertThat(r.ruleset().table("filter").orElseThrow().rules()).hasSize(1);
  }

  @Test
  void parse_truncatedDump_warnsAboutMissingCommit() {
    IptablesCodec.Result r =
        IptablesCodec.parse("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j X\n", "t");
    assertThat(r.warnings()).singleElement().asString().contains("no COMMIT");
    assertThat(r.ruleset().table("nat").orElseThrow().rules()).hasSize(1);
  }

  @Test
  void parseStrict_garbage_namesTheLine() {
    assertThatThrownBy(() -> IptablesCodec.parseStrict("*nat\n-A\nCOMMIT\n", "in.txt"))
        .hasMessageStartingWith("in.txt:2:");
  }

  @Test
  void ruleBuilder_commentWithSpaces_isQuotedOtherwiseRaw() {
    Rule a = Rule.in("C").comment("ns1/svc1:p80").jump("X").build();
    Rule b = Rule.in("C").comment("ns1/svc1:p80 cluster IP").jump("X").build();
    assertThat(a.print()).isEqualTo("-A C -m comment --comment ns1/svc1:p80 -j X");
    assertThat(b.print()).isEqualTo("-A C -m comment --comment \"ns1/svc1:p80 cluster IP\" -j X");
  }

  @Test
  void parse_nfacctDoubleSpaceAsIptablesSavePrintsIt_roundTripsAndReadsTheName() {
    String text =
        "*filter\n:KUBE-FORWARD - [0:0]\n"
            + "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name  ct_state_invalid_dropped_pkts -j DROP\n"
            + "COMMIT\n";
    Ruleset rs = IptablesCodec.parseStrict(text, "save");
    assertThat(rs.print()).isEqualTo(text);
    assertThat(
            rs.table("filter")
                .orElseThrow()
                .rules()
                .get(0)
                .option("--nfacct-name")
                .orElseThrow()
                .text())
        .isEqualTo("ct_state_invalid_dropped_pkts");
  }
}
