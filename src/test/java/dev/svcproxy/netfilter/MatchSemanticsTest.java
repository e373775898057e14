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
}
