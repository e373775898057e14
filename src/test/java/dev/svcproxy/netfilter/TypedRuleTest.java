package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.netfilter.match.MarkMask;
import dev.svcproxy.netfilter.match.Match;
import dev.svcproxy.netfilter.match.PortRange;
import dev.svcproxy.netfilter.target.Target;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Lines as iptables-save prints them (from the golden files and dumps under src/test/resources),
 * parsed into typed matches and targets; expected values are worked out by hand from libxt_* and
 * the kernel's xt_* code.
 */
class TypedRuleTest {
  private static TypedRule typed(String line) {
    return TypedRule.parse(IptablesCodec.parseRule(line));
  }

  private static List<Match> matches(String line) {
    return typed(line).matches();
  }

  private static Target target(String line) {
    return typed(line).target();
  }

  @Test
  void parse_kubeServicesRule_builtinsFirstThenModulesInLoadOrder() {
    assertThat(
            matches(
                "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"ns2/svc2:p80 has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP"))
        .containsExactly(
            new Match.Protocol(false, "tcp"),
            new Match.Comment("ns2/svc2:p80 has no local endpoints"),
            new Match.AddrType(null, new Match.TypeTest(false, Set.of("LOCAL")), false, false),
            new Match.Ports(
                "tcp",
                null,
                new Match.PortTest(false, new PortRange(3001, 3001)),
                null,
                List.of()));
  }

  @Test
  void parse_addresses_hostMaskAndHostBitsAsTheKernelStoresThem() {
    assertThat(matches("-A KUBE-FIREWALL -d 127.0.0.1/8 ! -s 10.0.0.5/32 -i veth+ ! -o eth0 -j X"))
        .containsExactly(
            new Match.Address(false, false, List.of(new Cidr("127.0.0.0", 8, false))),
            new Match.Address(true, true, List.of(new Cidr("10.0.0.5", 32, false))),
            new Match.Interface(true, false, "veth+"),
            new Match.Interface(false, true, "eth0"));
    assertThat(new Match.Interface(true, false, "veth+").matches("veth12")).isTrue();
    assertThat(new Match.Interface(true, false, "veth+").matches("eth0")).isFalse();
  }

  @Test
  void parse_multiportWithRangesAndNegation_portsAndRanges() {
    Match.MultiPort m =
        (Match.MultiPort)
            matches("-A KUBE-SERVICES -p udp -m multiport ! --dports 53,5353:5360 -j RETURN")
                .get(1);
    assertThat(m)
        .isEqualTo(
            new Match.MultiPort(
                Match.Direction.DESTINATION,
                true,
                List.of(new PortRange(53, 53), new PortRange(5353, 5360))));
    assertThat(m.matches(1, 5356)).isFalse();
    assertThat(m.matches(1, 5361)).isTrue();
  }

  @Test
  void parse_tcpPortRangeAndSyn_rangeAndFlagsAsLibxtTcpStoresThem() {
    Match.Ports p =
        (Match.Ports) matches("-A X -p tcp -m tcp --sport :1023 ! --dport 8000: --syn -j X").get(1);
    assertThat(p.sport()).isEqualTo(new Match.PortTest(false, new PortRange(0, 1023)));
    assertThat(p.dport()).isEqualTo(new Match.PortTest(true, new PortRange(8000, 65535)));
    // --syn is --tcp-flags FIN,SYN,RST,ACK SYN (libxt_tcp).
    assertThat(p.flags())
        .isEqualTo(
            ((Match.Ports)
                    matches("-A X -p tcp -m tcp --tcp-flags SYN,RST,ACK,FIN SYN -j X").get(1))
                .flags());
    assertThat(p.flags().matches(Set.of("SYN"))).isTrue();
    assertThat(p.flags().matches(Set.of("SYN", "ACK"))).isFalse();
  }

  @Test
  void parse_markAndConnmark_valueAndMask() {
    assertThat(matches("-A INPUT -m mark --mark 0x4000/0x4000 -j X"))
        .containsExactly(new Match.Mark(false, new MarkMask(0x4000, 0x4000)));
    assertThat(matches("-A INPUT -m connmark ! --mark 0x2 -j X"))
        .containsExactly(new Match.ConnMark(true, new MarkMask(2, 0xFFFFFFFFL)));
    // strtoul base 0, as iptables reads numbers: 010 is octal 8.
    assertThat(matches("-A INPUT -m mark --mark 010/16 -j X"))
        .containsExactly(new Match.Mark(false, new MarkMask(8, 16)));
  }

  @Test
  void parse_conntrack_statesSortedAndTuplesTyped() {
    assertThat(
            matches(
                "-A KUBE-FIREWALL -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT --ctstatus ASSURED --ctorigdst 10.0.0.1 --ctorigdstport 80 --ctproto 6 --ctdir REPLY -j DROP"))
        .containsExactly(
            new Match.Conntrack(
                List.of(
                    new Match.CtState(true, Set.of("DNAT", "ESTABLISHED", "RELATED")),
                    new Match.CtStatus(false, Set.of("ASSURED")),
                    new Match.CtAddress("--ctorigdst", false, new Cidr("10.0.0.1", 32, false)),
                    new Match.CtPort("--ctorigdstport", false, new PortRange(80, 80)),
                    new Match.CtProto(false, "6"),
                    new Match.CtDir(false, true))));
    assertThat(matches("-A X -m state --state NEW,ESTABLISHED -j X"))
        .containsExactly(new Match.State(new Match.CtState(false, Set.of("ESTABLISHED", "NEW"))));
  }

  @Test
  void parse_statistic_probabilityAsTheKernelHoldsIt() {
    // lround(0.33333333349 * 2^31) = 715827883, which iptables-save prints back as 0.33333333349.
    Match.Statistic s =
        (Match.Statistic)
            matches("-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j X")
                .get(0);
    assertThat(s)
        .isEqualTo(new Match.Statistic(Match.StatisticMode.RANDOM, false, 715827883L, 0, 0));
    assertThat(s)
        .isEqualTo(
            matches("-A KUBE-SVC-X -m statistic --mode random --probability 0.3333333333 -j X")
                .get(0));
    assertThat(matches("-A KUBE-SVC-A -m statistic --mode nth --every 3 --packet 1 -j X"))
        .containsExactly(new Match.Statistic(Match.StatisticMode.NTH, false, 0, 3, 1));
    assertThat(matches("-A S -m statistic --mode random ! --probability 0.50000000000 -j X"))
        .containsExactly(new Match.Statistic(Match.StatisticMode.RANDOM, true, 1L << 30, 0, 0));
  }

  @Test
  void parse_addrtypeWithLimit_typesAndLimit() {
    assertThat(matches("-A INPUT -m addrtype ! --src-type UNICAST,LOCAL --limit-iface-in -j X"))
        .containsExactly(
            new Match.AddrType(
                new Match.TypeTest(true, Set.of("LOCAL", "UNICAST")), null, true, false));
  }

  @Test
  void parse_set_nameDirectionsAndOtherOptions() {
    assertThat(matches("-A INPUT -m set ! --match-set KUBE-X dst,src --return-nomatch -j X"))
        .containsExactly(
            new Match.SetMatch(
                true,
                "KUBE-X",
                List.of(Match.Side.DST, Match.Side.SRC),
                List.of(new Match.Opt(false, "--return-nomatch", List.of()))));
  }

  @Test
  void parse_recent_defaultsFilledInAsLibxtRecentDoes() {
    assertThat(
            matches(
                "-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m recent --name KUBE-SEP-I --rcheck --seconds 10800 --reap -j X"))
        .containsExactly(
            new Match.Recent(
                "KUBE-SEP-I",
                Match.RecentCommand.RCHECK,
                false,
                10800,
                true,
                0,
                false,
                "255.255.255.255",
                false));
    assertThat(
            matches(
                "-A INPUT -m recent --update --seconds 5 --hitcount 3 --rttl --name N --mask 255.255.255.0 --rdest -j X"))
        .containsExactly(
            new Match.Recent(
                "N", Match.RecentCommand.UPDATE, false, 5, false, 3, true, "255.255.255.0", true));
  }

  @Test
  void parse_physdevNfacctLimit_typed() {
    assertThat(matches("-A INPUT -m physdev --physdev-in veth0 ! --physdev-is-bridged -j X"))
        .containsExactly(
            new Match.Physdev(
                List.of(
                    new Match.PhysdevTest(false, "--physdev-in", "veth0"),
                    new Match.PhysdevTest(true, "--physdev-is-bridged", null))));
    // nfacct prints its option with two spaces; the value is still the name.
    assertThat(matches("-A INPUT -m nfacct --nfacct-name  foo -j X"))
        .containsExactly(new Match.Nfacct("foo"));
    assertThat(matches("-A INPUT -m limit --limit 5/sec -j X"))
        .containsExactly(new Match.Limit("5/sec", 5));
  }

  @Test
  void parse_unknownModule_keptAndPrintsBack() {
    Rule r = IptablesCodec.parseRule("-A X -m owner ! --uid-owner 0 --gid-owner 7 -j ACCEPT");
    Match.Unknown u = (Match.Unknown) TypedRule.parse(r).matches().get(0);
    assertThat(u.module()).isEqualTo("owner");
    Rule back = Rule.in("X").args(u.args()).jump("ACCEPT").build();
    assertThat(back.print()).isEqualTo(r.print());
    assertThat(RuleCanon.key(back)).isEqualTo(RuleCanon.key(r));
  }

  @Test
  void parse_unknownTarget_keptAndPrintsBack() {
    Rule r =
        IptablesCodec.parseRule(
            "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu");
    Target.Unknown u = (Target.Unknown) TypedRule.parse(r).target();
    Rule back = Rule.in("FORWARD").args(r.args().subList(0, 3)).args(u.args()).build();
    assertThat(back.print()).isEqualTo(r.print());
    assertThat(RuleCanon.key(back)).isEqualTo(RuleCanon.key(r));
  }

  @Test
  void parse_markTargets_everySpellingAsOneXmark() {
    // libxt_MARK: --set-mark v/m is xmark v/(v|m); --or-mark v is v/v; --and-mark v is 0/~v;
    // --xor-mark v is v/0.
    assertThat(target("-A X -j MARK --set-mark 0x5/0xf0")).isEqualTo(new Target.Mark(5, 0xF5));
    assertThat(target("-A X -j MARK --set-mark 0x5")).isEqualTo(new Target.Mark(5, 0xFFFFFFFFL));
    assertThat(target("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"))
        .isEqualTo(target("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"));
    assertThat(target("-A X -j MARK --and-mark 0xffffbfff")).isEqualTo(new Target.Mark(0, 0x4000));
    assertThat(target("-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000"))
        .isEqualTo(new Target.Mark(0x4000, 0));
  }

  @Test
  void apply_markArithmetic_asXtMark() {
    // (mark & ~mask) ^ value, worked by hand.
    assertThat(new Target.Mark(0x4000, 0).apply(0x4001)).isEqualTo(0x0001);
    assertThat(new Target.Mark(0x4000, 0).apply(0x0001)).isEqualTo(0x4001);
    assertThat(new Target.Mark(0x3, 0xf).apply(0xabcd)).isEqualTo(0xabc3);
    assertThat(new Target.Mark(0x10, 0x30).apply(0xff)).isEqualTo(0xdf);
    assertThat(new Target.Mark(0x4000, 0x4000).apply(0xffffffffL)).isEqualTo(0xffffffffL);
  }

  @Test
  void parse_connmarkTargets_threeOperations() {
    assertThat(target("-A PREROUTING -j CONNMARK --set-xmark 0x1/0x1"))
        .isEqualTo(new Target.ConnMarkSet(1, 1));
    Target.ConnMark save =
        (Target.ConnMark)
            target("-A PREROUTING -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xf0f");
    // ctmark = (ctmark & ~0xf0f) ^ (mark & 0xff) = (0x1234 & 0xfffff0f0) ^ 0xcd = 0x1030 ^ 0xcd.
    assertThat(save.apply(0x1234, 0xabcd)).containsExactly(0x10fd, 0xabcd);
    Target.ConnMark restore =
        (Target.ConnMark)
            target(
                "-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff");
    assertThat(restore.apply(0x77, 0x12)).containsExactly(0x77, 0x77);
  }

  @Test
  void parse_natTargets_rangesAndFlags() {
    assertThat(target("-A KUBE-SEP-A -p tcp -j DNAT --to-destination 10.244.1.2:8080"))
        .isEqualTo(
            new Target.Dnat(
                new Target.NatRange("10.244.1.2", "10.244.1.2", new PortRange(8080, 8080)),
                false,
                false));
    assertThat(target("-A X -j DNAT --to-destination 10.0.0.1-10.0.0.3 --random --persistent"))
        .isEqualTo(new Target.Dnat(new Target.NatRange("10.0.0.1", "10.0.0.3", null), true, true));
    assertThat(target("-A SNATS -s 10.0.0.0/8 -j SNAT --to-source 1.2.3.4 --random"))
        .isEqualTo(
            new Target.Snat(new Target.NatRange("1.2.3.4", "1.2.3.4", null), true, false, false));
    assertThat(
            target(
                "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"))
        .isEqualTo(new Target.Masquerade(null, false, true));
    assertThat(target("-A SNATS -p tcp -j MASQUERADE --to-ports 1000-2000"))
        .isEqualTo(new Target.Masquerade(new PortRange(1000, 2000), false, false));
    assertThat(target("-A KUBE-SEP-A -p tcp -j REDIRECT --to-ports 8080"))
        .isEqualTo(new Target.Redirect(new PortRange(8080, 8080), false));
  }

  @Test
  void parse_otherTargets_typed() {
    assertThat(target("-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset"))
        .isEqualTo(new Target.Reject("tcp-reset"));
    assertThat(target("-A KUBE-SERVICES -j REJECT"))
        .isEqualTo(new Target.Reject("icmp-port-unreachable"));
    assertThat(target("-A X -j ACCEPT")).isEqualTo(new Target.Accept());
    assertThat(target("-A X -j DROP")).isEqualTo(new Target.Drop());
    assertThat(target("-A X -j RETURN")).isEqualTo(new Target.Return());
    assertThat(target("-A X -j KUBE-SVC-A")).isEqualTo(new Target.Jump("KUBE-SVC-A", false));
    assertThat(target("-A X -g KUBE-SVC-A")).isEqualTo(new Target.Jump("KUBE-SVC-A", true));
    assertThat(target("-A X -m comment --comment c")).isEqualTo(new Target.None());
    assertThat(target("-A PREROUTING -p udp -m udp --dport 53 -j NOTRACK"))
        .isEqualTo(new Target.NoTrack());
    assertThat(target("-A PREROUTING -p tcp -m tcp --dport 53 -j CT --notrack"))
        .isEqualTo(new Target.NoTrack());
    assertThat(target("-A X -j LOG --log-prefix \"p \" --log-level 6"))
        .isEqualTo(new Target.Log("p ", "6", List.of()));
    assertThat(target("-A X -j TCPMSS --clamp-mss-to-pmtu"))
        .isEqualTo(
            new Target.Unknown(
                "TCPMSS", List.of(new Match.Opt(false, "--clamp-mss-to-pmtu", List.of()))));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "-A F -p tcp -m tcp --dport abc -j DROP       | --dport abc      | not a port number",
        "-A F -m mark --mark 0xZZ -j DROP             | --mark 0xZZ      | not a number",
        "-A F -s 10.0.0.0/33 -j DROP                  | -s 10.0.0.0/33   | 10.0.0.0/33",
        "-A F -m conntrack --ctstate NEWISH -j DROP   | --ctstate NEWISH | unknown conntrack state",
        "-A F -m statistic --mode nth --every 0 -j X  | --every 0        | not a positive count",
        "-A F -j DNAT --to-destination 10.0.0.1:http  | -j DNAT          | not a port number",
        "-A F -j MARK --set-xmark 0x1/0x2/0x3         | -j MARK          | not value[/mask]",
        "-A F -j MARK                                 | -j MARK          | exactly one operation"
      })
  void parse_badValue_errorNamesRuleElementAndReason(String line, String element, String reason) {
    assertThatThrownBy(() -> typed(line.strip()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("-A F ")
        .hasMessageContaining(element.strip())
        .hasMessageContaining(reason.strip());
  }
}
