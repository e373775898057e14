package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** `ipset save` and `ipset list` output as ipset v7.17 printed it on this kernel. */
class IpsetCodecTest {
  static final String SAVE =
      """
      create A hash:ip family inet hashsize 1024 maxelem 65536 timeout 0 comment bucketsize 12 initval 0x5c3cac37
      add A 10.0.0.2 timeout 99 comment "x"
      add A 10.0.0.1 timeout 0 comment "hello world"
      create B hash:ip,port family inet hashsize 1024 maxelem 65536 counters bucketsize 12 initval 0x882e422f
      add B 10.0.0.1,tcp:80 packets 5 bytes 300
      add B 10.0.0.2,udp:53 packets 0 bytes 0
      create C hash:net family inet6 hashsize 1024 maxelem 65536 skbinfo bucketsize 12 initval 0x35c9a487
      add C fd00::/64 skbmark 0x10/0xff
      create D bitmap:port range 0-1024
      add D 80
      create G hash:ip,port,net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xa76e0b24
      add G 1.2.3.4,tcp:80,10.0.0.0/8 nomatch
      create H bitmap:ip range 10.0.0.0-10.0.0.255
      add H 10.0.0.5
      create E list:set size 8
      add E A
      """;

  static final String LIST =
      """
      Name: A
      Type: hash:ip
      Revision: 6
      Header: family inet hashsize 1024 maxelem 65536 timeout 0 comment bucketsize 12 initval 0x5c3cac37
      Size in memory: 422
      References: 1
      Number of entries: 2
      Members:
      10.0.0.2 timeout 99 comment "x"
      10.0.0.1 timeout 0 comment "hello world"

      Name: E
      Type: list:set
      Revision: 3
      Header: size 8
      Size in memory: 128
      References: 0
      Number of entries: 1
      Members:
      A
      """;

  @Test
  void print_parsedSave_exactlyTheSavedText() {
    assertThat(IpsetCodec.print(IpsetCodec.parseStrict(SAVE, "ipset save"))).isEqualTo(SAVE);
  }

  @Test
  void parse_save_headerAndEntryOptionsTyped() {
    List<IpsetCodec.IpSet> sets = IpsetCodec.parseStrict(SAVE, "ipset save");
    IpsetCodec.IpSet a = sets.get(0);
    assertThat(a.type()).isEqualTo("hash:ip");
    assertThat(a.family()).contains("inet");
    assertThat(a.hashsize()).contains(1024L);
    assertThat(a.maxelem()).contains(65536L);
    assertThat(a.timeout()).contains(0L);
    assertThat(a.comments()).isTrue();
    assertThat(a.entries().get(0).comment()).contains("x");
    assertThat(a.entries().get(0).timeout()).contains(99L);
    assertThat(a.entries().get(1).comment()).contains("hello world");
    assertThat(sets.get(1).comments()).isFalse();
    assertThat(sets.get(1).members()).containsExactly("10.0.0.1,tcp:80", "10.0.0.2,udp:53");
    assertThat(sets.get(1).entries().get(0).option("packets")).contains("5");
    assertThat(sets.get(2).family()).contains("inet6");
    assertThat(sets.get(3).family()).isEmpty();
    assertThat(sets.get(4).entries().get(0).options())
        .containsExactly(new IpsetCodec.Option("nomatch", null));
    assertThat(IpsetCodec.dimensions(sets.get(4).type())).containsExactly("ip", "port", "net");
  }

  @Test
  void parse_list_sameSetsAsSave() {
    List<IpsetCodec.IpSet> listed = IpsetCodec.parseStrict(LIST, "ipset list");
    List<IpsetCodec.IpSet> saved = IpsetCodec.parseStrict(SAVE, "ipset save");
    assertThat(listed).containsExactly(saved.get(0), saved.get(6));
  }

  @Test
  void parse_badLines_warningsWithLineNumbers() {
    IpsetCodec.Result r =
        IpsetCodec.parse(
            "create S hash:ip\nadd S 10.0.0.1\nbogus\nadd T 10.0.0.2\nadd S 10.0.0.3 comment \"open\n"
                + "create S hash:ip\nadd S 10.0.0.4 timeout\n",
            "ipset-save.txt");
    assertThat(r.sets())
        .singleElement()
        .satisfies(s -> assertThat(s.members()).containsExactly("10.0.0.1"));
    assertThat(r.warnings())
        .extracting(ParseWarning::toString)
        .satisfiesExactly(
            w -> assertThat(w).startsWith("ipset-save.txt:3: ").contains("not understood"),
            w -> assertThat(w).startsWith("ipset-save.txt:4: ").contains("undeclared set T"),
            w -> assertThat(w).startsWith("ipset-save.txt:5: ").contains("unterminated quote"),
            w -> assertThat(w).startsWith("ipset-save.txt:6: ").contains("created twice"),
            w -> assertThat(w).startsWith("ipset-save.txt:7: ").contains("timeout needs a value"));
  }

  /**
   * The bundle reader before IpsetCodec kept a member of a set not yet created (warning) and gave
   * it to the set once a create line declared it; a set listed twice is a warning like a set
   * created twice, its second listing's members joining the first.
   */
  @Test
  void parse_undeclaredMemberAndDuplicateListing_keptWithWarnings() {
    IpsetCodec.Result r =
        IpsetCodec.parse("add T 10.0.0.2\ncreate T hash:ip\nadd T 10.0.0.3\n", "ipset-save.txt");
    assertThat(r.sets())
        .singleElement()
        .satisfies(s -> assertThat(s.members()).containsExactly("10.0.0.2", "10.0.0.3"));
    assertThat(r.warnings())
        .extracting(ParseWarning::toString)
        .singleElement()
        .satisfies(
            w -> assertThat(w).startsWith("ipset-save.txt:1: ").contains("undeclared set T"));

    String twice =
        """
        Name: L
        Type: hash:ip
        Members:
        10.0.0.1

        Name: L
        Type: hash:net
        Members:
        10.0.0.2
        """;
    IpsetCodec.Result l = IpsetCodec.parse(twice, "ipset-list.txt");
    assertThat(l.sets())
        .singleElement()
        .satisfies(
            s -> {
              assertThat(s.type()).isEqualTo("hash:ip");
              assertThat(s.members()).containsExactly("10.0.0.1", "10.0.0.2");
            });
    assertThat(l.warnings())
        .extracting(ParseWarning::toString)
        .singleElement()
        .satisfies(w -> assertThat(w).startsWith("ipset-list.txt:6: ").contains("listed twice"));
  }

  @Test
  void print_unsafeText_refused() {
    IpsetCodec.IpSet quote =
        new IpsetCodec.IpSet(
            "S",
            "hash:ip",
            List.of(new IpsetCodec.Option("comment", null)),
            List.of(
                new IpsetCodec.Entry(
                    "10.0.0.1", List.of(new IpsetCodec.Option("comment", "say \"hi\"")))));
    assertThatThrownBy(() -> IpsetCodec.print(List.of(quote)))
        .isInstanceOf(UnsafeTextException.class);
    assertThatThrownBy(() -> new IpsetCodec.Entry("10.0.0.1\nflush", List.of()))
        .isInstanceOf(UnsafeTextException.class);
    assertThatThrownBy(() -> new IpsetCodec.IpSet("S x", "hash:ip", List.of(), List.of()))
        .isInstanceOf(UnsafeTextException.class);
    assertThatThrownBy(
            () ->
                IpsetCodec.print(
                    List.of(
                        new IpsetCodec.IpSet(
                            "S",
                            "hash:ip",
                            List.of(new IpsetCodec.Option("timeout", "1 -exist")),
                            List.of()))))
        .isInstanceOf(UnsafeTextException.class);
  }

  /**
   * ipset's lib/parse.c reads a port part without a protocol as tcp and "icmp:NAME" as the type and
   * code of that name (echo-request is type 8 code 0), stored as (type &lt;&lt; 8) | code.
   */
  @Test
  void typedParts_portAndIcmpParts_readAsIpsetReadsThem() {
    assertThat(IpsetCodec.typedParts("hash:ip,port", "10.0.0.7,80"))
        .containsExactly(
            new IpsetCodec.Net(dev.svcproxy.model.Cidr.parse("10.0.0.7/32")),
            new IpsetCodec.Port("tcp", new dev.svcproxy.netfilter.match.PortRange(80, 80)));
    assertThat(IpsetCodec.typedParts("hash:net,port", "10.0.0.0/8,udp:53-55").get(1))
        .isEqualTo(new IpsetCodec.Port("udp", new dev.svcproxy.netfilter.match.PortRange(53, 55)));
    assertThat(IpsetCodec.typedParts("hash:ip,port", "10.0.0.7,icmp:echo-request").get(1))
        .isEqualTo(
            new IpsetCodec.Port("icmp", new dev.svcproxy.netfilter.match.PortRange(0x800, 0x800)));
    assertThat(IpsetCodec.typedParts("hash:net", "10.1.2.3/16"))
        .containsExactly(new IpsetCodec.Net(dev.svcproxy.model.Cidr.parse("10.1.0.0/16")));
    assertThatThrownBy(() -> IpsetCodec.typedParts("hash:ip,port", "10.0.0.7"))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
