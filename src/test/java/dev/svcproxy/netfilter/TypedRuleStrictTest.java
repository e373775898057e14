package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.netfilter.match.Match;
import dev.svcproxy.netfilter.target.Target;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Rules iptables v1.8.9 refuses, each checked once with `iptables -A` in a throw-away namespace
 * (Linux 6.x): the comment after each row is what iptables said. A strict parse refuses them naming
 * the rule and the reason; a lenient parse keeps an Invalid element.
 */
class TypedRuleStrictTest {

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // --probability must be specified when using random mode
        "-A X -m statistic --mode random -j DROP | random mode",
        // --probability must be specified when using random mode
        "-A X -m statistic --mode random --every 2 -j DROP | random mode",
        // statistic: option "--mode" must be specified
        "-A X -m statistic --probability 0.5 -j DROP | --mode",
        // --every and --packet must be specified when using nth mode
        "-A X -m statistic --mode nth --probability 0.5 -j DROP | nth mode",
        // statistic: option "--packet" also requires "--every".
        "-A X -m statistic --mode nth --packet 0 -j DROP | also requires",
        // statistic: option "--probability" cannot be used together with "--every".
        "-A X -m statistic --mode random --probability 0.5 --every 2 -j DROP | together",
        // statistic: option "--packet" cannot be inverted.
        "-A X -m statistic --mode nth --every 3 ! --packet 1 -j DROP | inverted",
        // invalid portrange specified
        "-A X -p tcp -m multiport --dports 80:80 -j DROP | invalid portrange",
        // invalid portrange specified
        "-A X -p tcp -m multiport --dports 90:80 -j DROP | invalid portrange",
        // invalid port/service `' specified
        "-A X -p tcp -m multiport --dports :90 -j DROP | not a port",
        // invalid port/service `' specified
        "-A X -p tcp -m multiport --dports 80: -j DROP | not a port",
        // too many ports specified (14 ports and a range: 16 slots)
        "-A X -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:16 -j DROP | too many",
        // multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'
        "-A X -m multiport --dports 80,81 -j DROP | multiport needs",
        // multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP
        "-A X ! -p tcp -m multiport --dports 80,81 -j DROP | only works",
        // conntrack: option "--ctdir" cannot be inverted.
        "-A X -m conntrack ! --ctdir ORIGINAL -j DROP | cannot be inverted",
        // ! not allowed with multiple source or destination IP addresses
        "-A X ! -s 10.0.0.1,10.0.0.2 -j DROP | ! not allowed",
        // RULE_APPEND failed (Invalid argument): xt_recent refuses --set with --seconds
        "-A X -m recent --set --seconds 10 -j DROP | --set and --remove",
        // recent: option "--rttl" cannot be used together with "--set".
        "-A X -m recent --set --rttl -j DROP | --set and --remove",
        // bad rate "5/fortnight"'
        "-A X -m limit --limit 5/fortnight -j DROP | bad rate",
        // bad rate "abc"'
        "-A X -m limit --limit abc -j DROP | bad rate",
        // bad rate "0/s"'
        "-A X -m limit --limit 0/s -j DROP | bad rate",
        // bad rate "5/"'
        "-A X -m limit --limit 5/ -j DROP | bad rate",
        // Rate too fast "10001/s"
        "-A X -m limit --limit 10001/s -j DROP | too fast",
        // policy match: invalid policy "foo"
        "-A X -m policy --dir in --pol foo -j DROP | invalid policy",
        // policy match: neither --dir in nor --dir out specified
        "-A X -m policy --pol none -j DROP | --dir",
        // Unknown ICMP type `bogus'
        "-A X -p icmp -m icmp --icmp-type bogus -j DROP | ICMP type",
        // Unknown ICMP type `300'
        "-A X -p icmp -m icmp --icmp-type 300 -j DROP | ICMP type",
        // Unknown ICMP code `8/300'
        "-A X -p icmp -m icmp --icmp-type 8/300 -j DROP | ICMP type",
        // Ambiguous ICMP type `echo': `echo-reply' or `echo-request'?
        "-A X -p icmp -m icmp --icmp-type echo -j DROP | ambiguous",
        // TCP match requires '-p tcp'
        "-A X -p udp -m tcp --dport 80 -j DROP | requires '-p tcp'",
        // TCP match requires '-p tcp'
        "-A X -m tcp --dport 80 -j DROP | requires '-p tcp'",
      })
  void parse_matchIptablesRefuses_refusedNamingRuleAndReason(String line, String reason) {
    Rule rule = IptablesCodec.parseRule(line);
    assertThatThrownBy(() -> TypedRule.parse(rule))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(line.substring(5, 20))
        .hasMessageContaining(reason);
    assertThat(TypedRule.lenient(rule).matches()).hasAtLeastOneElementOfType(Match.Invalid.class);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        // unknown reject type "bogus"
        "-A X -j REJECT --reject-with bogus | unknown reject type",
        // RULE_APPEND failed (Invalid argument): ipt_REJECT wants -p tcp for tcp-reset
        "-A X -j REJECT --reject-with tcp-reset | tcp-reset",
        // CONNMARK: option "--set-xmark" cannot be used together with "--save-mark".
        "-A X -j CONNMARK --save-mark --set-xmark 0x1/0x1 | cannot be used together",
        // CONNMARK: option "--set-xmark" cannot be used together with "--save-mark".
        "-A X -j CONNMARK --set-xmark 0x1/0x1 --save-mark | cannot be used together",
        // CONNMARK: option "--save-mark" cannot be used together with "--restore-mark".
        "-A X -j CONNMARK --save-mark --restore-mark | cannot be used together",
        // DNAT: option "--to-destination" can only be used once.
        "-A X -p tcp -j DNAT --to-destination 1.1.1.1 --to-destination 2.2.2.2 | only be used once",
        // SNAT: option "--to-source" can only be used once.
        "-A X -j SNAT --to-source 1.1.1.1 --to-source 2.2.2.2 | only be used once",
      })
  void parse_targetIptablesRefuses_refusedNamingRuleAndReason(String line, String reason) {
    Rule rule = IptablesCodec.parseRule(line);
    assertThatThrownBy(() -> TypedRule.parse(rule))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(line.substring(5, 15))
        .hasMessageContaining(reason);
    assertThat(TypedRule.lenient(rule).target()).isInstanceOf(Target.Invalid.class);
  }

  /** Accepted by iptables 1.8.9 (rc 0), and by the strict parse. */
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "-A X -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14:15 -j DROP",
        "-A X -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -j DROP",
        "-A X -m limit --limit 10000/s -j DROP",
        "-A X -m limit --limit 5/sec -j DROP",
        "-A X -m limit --limit 5 -j DROP",
        "-A X -p icmp -m icmp --icmp-type ECHO-REQ -j DROP",
        "-A X -m recent --update --reap --seconds 5 -j DROP",
        "-A X -p tcp -j REJECT --reject-with tcp-reset",
        "-A X -j REJECT --reject-with icmp-host-prohib",
        "-A X -p 6 -m tcp --dport 80 -j DROP",
        "-A X -m statistic --mode nth --every 3 -j DROP",
      })
  void parse_iptablesAccepts_accepted(String line) {
    TypedRule.parse(IptablesCodec.parseRule(line));
  }
}
