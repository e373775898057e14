package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Lines as conntrack v1.4.7 and /proc/net/nf_conntrack printed them on this kernel. */
class ConntrackCodecTest {
  private static final String LIST =
      """
      conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
      icmp     1 29 src=10.0.0.1 dst=10.0.0.4 type=8 code=0 id=77 [UNREPLIED] src=10.0.0.4 dst=10.0.0.1 type=0 code=0 id=77 mark=0 use=1
      udp      17 29 src=10.0.0.1 dst=10.0.0.3 sport=5353 dport=53 [UNREPLIED] src=10.0.0.3 dst=10.0.0.1 sport=53 dport=5353 mark=0 use=1
      tcp      6 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1234 dport=80 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1234 [ASSURED] mark=5 zone=3 use=1
      tcp      6 49 SYN_SENT src=fd00::1 dst=fd00::2 sport=1 dport=2 src=fd00::2 dst=fd00::1 sport=2 dport=1 mark=0 use=1
      """;

  private static final String PROC =
      """
      ipv4     2 tcp      6 99 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1234 dport=80 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=80 dport=1234 [ASSURED] mark=5 zone=3 use=2
      ipv4     2 unknown  2 599 src=10.244.1.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=10.244.1.1 mark=0 zone=0 use=2
      ipv6     10 tcp      6 49 SYN_SENT src=fd00:0000:0000:0000:0000:0000:0000:0001 dst=fd00:0000:0000:0000:0000:0000:0000:0002 sport=1 dport=2 src=fd00:0000:0000:0000:0000:0000:0000:0002 dst=fd00:0000:0000:0000:0000:0000:0000:0001 sport=2 dport=1 mark=0 zone=0 use=2
      """;

  @Test
  void parse_conntrackList_everyField() {
    List<ConntrackCodec.Entry> e = ConntrackCodec.parseStrict(LIST, "conntrack -L");
    assertThat(e).hasSize(4);
    ConntrackCodec.Entry icmp = e.get(0);
    assertThat(icmp.protocol()).isEqualTo("icmp");
    assertThat(icmp.protocolNumber()).isEqualTo(1);
    assertThat(icmp.timeout()).isEqualTo(29);
    assertThat(icmp.state()).isNull();
    assertThat(icmp.family()).isNull();
    assertThat(icmp.original())
        .isEqualTo(
            new ConntrackCodec.Tuple(
                "10.0.0.1", "10.0.0.4", null, null, Map.of("type", "8", "code", "0", "id", "77")));
    assertThat(icmp.reply().extra()).containsEntry("type", "0");
    assertThat(icmp.unreplied()).isTrue();
    assertThat(icmp.other()).containsExactly(Map.entry("use", "1"));
    ConntrackCodec.Entry tcp = e.get(2);
    assertThat(tcp.state()).isEqualTo("ESTABLISHED");
    assertThat(tcp.original())
        .isEqualTo(new ConntrackCodec.Tuple("10.0.0.1", "10.0.0.2", 1234, 80, Map.of()));
    assertThat(tcp.reply())
        .isEqualTo(new ConntrackCodec.Tuple("10.0.0.2", "10.0.0.1", 80, 1234, Map.of()));
    assertThat(tcp.flags()).isEqualTo(Set.of("UNREPLIED", "ASSURED"));
    assertThat(tcp.mark()).isEqualTo(5);
    assertThat(tcp.zone()).isEqualTo(3);
    assertThat(e.get(3).original().src()).isEqualTo("fd00::1");
    assertThat(e.get(3).assured()).isFalse();
  }

  @Test
  void parse_procNfConntrack_familyAndProtocolsWithoutPorts() {
    List<ConntrackCodec.Entry> e = ConntrackCodec.parseStrict(PROC, "/proc/net/nf_conntrack");
    assertThat(e).extracting(ConntrackCodec.Entry::family).containsExactly("ipv4", "ipv4", "ipv6");
    assertThat(e.get(0).zone()).isEqualTo(3);
    assertThat(e.get(1).protocol()).isEqualTo("unknown");
    assertThat(e.get(1).protocolNumber()).isEqualTo(2);
    assertThat(e.get(1).reply())
        .isEqualTo(new ConntrackCodec.Tuple("224.0.0.22", "10.244.1.1", null, null, Map.of()));
    assertThat(e.get(2).reply().dport()).isEqualTo(1);
  }

  @Test
  void parse_badLines_warningsWithLineNumbers() {
    ConntrackCodec.Result r =
        ConntrackCodec.parse(
            "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n"
                + "tcp 6 10 ESTABLISHED src=1.2.3.4\n"
                + "tcp 6 10 ESTABLISHED src=1.2.3.4 dst=1.2.3.5 sport=x dport=1 src=1.2.3.5 dst=1.2.3.4 sport=1 dport=2\n"
                + "tcp 6 10 ESTABLISHED src=1.2.3.4 dst=1.2.3.5 sport=1 dport=1 src=1.2.3.5 dst=1.2.3.4 sport=1 dport=2 mark=0xZ\n"
                + "$ sudo conntrack -L\n",
            "conntrack.txt");
    assertThat(r.entries()).isEmpty();
    assertThat(r.warnings())
        .extracting(ParseWarning::toString)
        .satisfiesExactly(
            w -> assertThat(w).startsWith("conntrack.txt:2: ").contains("without both tuples"),
            w -> assertThat(w).startsWith("conntrack.txt:3: ").contains("sport=x is not a port"),
            w -> assertThat(w).startsWith("conntrack.txt:4: ").contains("mark=0xZ is not a mark"),
            w -> assertThat(w).startsWith("conntrack.txt:5: ").contains("not a conntrack entry"));
    assertThatThrownBy(() -> ConntrackCodec.parseStrict("tcp 6 x\n", "c"))
        .hasMessageStartingWith("c:1: ");
  }
}
