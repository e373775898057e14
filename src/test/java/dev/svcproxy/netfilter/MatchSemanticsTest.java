package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.match.Match;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Typed matches evaluated as the kernel's xt_* code does, the expected values reasoned from it. */
class MatchSemanticsTest {
  private static Match.TcpFlags flags(String line) {
    return TypedRule.parse(IptablesCodec.parseRule(line))
        .match(Match.Ports.class)
        .orElseThrow()
        .flags();
  }

  /** Every one of the 64 combinations of FIN,SYN,RST,PSH,ACK,URG. */
  private static List<Set<String>> allSegments() {
    List<Set<String>> out = new ArrayList<>();
    for (int bits = 0; bits < 64; bits++) {
      Set<String> s = new HashSet<>();
      for (int i = 0; i < 6; i++) {
        if ((bits & (1 << i)) != 0) {
          s.add(Match.TcpFlags.ALL.get(i));
        }
      }
      out.add(s);
    }
    return out;
  }

  /**
   * xt_tcpudp.c tcp_mt: FWINVTCP((tcph->flags &amp; flg_mask) == flg_cmp, XT_TCP_INV_FLAGS). With
   * mask SYN and comp SYN,ACK the masked flags can never hold ACK, so no segment matches and the
   * negated rule matches every segment.
   */
  @Test
  void matches_compFlagOutsideMask_neverMatches() {
    Match.TcpFlags f = flags("-A X -p tcp -m tcp --tcp-flags SYN SYN,ACK -j DROP");
    Match.TcpFlags n = flags("-A X -p tcp -m tcp ! --tcp-flags SYN SYN,ACK -j DROP");
    for (Set<String> seg : allSegments()) {
      assertThat(f.matches(seg)).as(seg.toString()).isFalse();
      assertThat(n.matches(seg)).as(seg.toString()).isTrue();
    }
  }

  /** (flags &amp; SYN,ACK) == SYN: exactly the segments with SYN and without ACK, 16 of 64. */
  @Test
  void matches_synWithinMask_onlySegmentsWithSynWithoutAck() {
    Match.TcpFlags f = flags("-A X -p tcp -m tcp --tcp-flags SYN,ACK SYN -j DROP");
    long hits = allSegments().stream().filter(f::matches).count();
    assertThat(hits).isEqualTo(16);
    assertThat(f.matches(Set.of("SYN", "FIN"))).isTrue();
    assertThat(f.matches(Set.of("SYN", "ACK"))).isFalse();
  }

  private static String key(String line) {
    return RuleCanon.key(IptablesCodec.parseRule(line));
  }

  /**
   * libxt_icmp's icmp_codes table: echo-request (and its alias ping, and any unambiguous prefix) is
   * type 8 with codes 0-255, exactly what "8" means; "8/0" narrows the code to 0, and iptables-save
   * prints the first two back as "--icmp-type 8".
   */
  @Test
  void key_icmpTypeNameAndNumber_equal() {
    String number = key("-A X -p icmp -m icmp --icmp-type 8 -j ACCEPT");
    assertThat(key("-A X -p icmp -m icmp --icmp-type echo-request -j ACCEPT")).isEqualTo(number);
    assertThat(key("-A X -p icmp -m icmp --icmp-type ping -j ACCEPT")).isEqualTo(number);
    assertThat(key("-A X -p icmp -m icmp --icmp-type ECHO-REQ -j ACCEPT")).isEqualTo(number);
    assertThat(key("-A X -p icmp -m icmp --icmp-type 8/0 -j ACCEPT")).isNotEqualTo(number);
    assertThat(key("-A X -p icmp -m icmp --icmp-type port-unreachable -j ACCEPT"))
        .isEqualTo(key("-A X -p icmp -m icmp --icmp-type 3/3 -j ACCEPT"));
  }

  /** xt_icmp icmp_type_code_match: type 0xFF (any) or the type with the code in range. */
  @Test
  void matches_icmpNameAndNumber_sameVerdicts() {
    Match.Icmp name =
        TypedRule.parse(
                IptablesCodec.parseRule("-A X -p icmp -m icmp --icmp-type echo-request -j ACCEPT"))
            .match(Match.Icmp.class)
            .orElseThrow();
    Match.Icmp unreach =
        TypedRule.parse(
                IptablesCodec.parseRule("-A X -p icmp -m icmp ! --icmp-type host-unreachable"))
            .match(Match.Icmp.class)
            .orElseThrow();
    assertThat(name.matches(8, 0)).isTrue();
    assertThat(name.matches(8, 7)).isTrue();
    assertThat(name.matches(0, 0)).isFalse();
    assertThat(unreach.matches(3, 1)).isFalse();
    assertThat(unreach.matches(3, 3)).isTrue();
  }
}
