package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The ipset and conntrack codecs against the tools' real output: sets and entries made in one
 * namespace with the tools' own commands, read back, and (for ipset) restored into another.
 */
class TextCodecsKernelTest {
  private static Lab lab;
  private static CommandRunner one;
  private static CommandRunner two;

  @BeforeAll
  static void setUp() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    one = lab.runner().inNetns(lab.node("node1").netns());
    two = lab.runner().inNetns(lab.node("node2").netns());
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static void ipset(String... argv) {
    String[] full = new String[argv.length + 1];
    full[0] = "ipset";
    System.arraycopy(argv, 0, full, 1, argv.length);
    one.run(full).orThrow();
  }

  @Test
  void ipset_savedSets_parsePrintRestoreIntoAFreshNamespaceIsTheSame() {
    ipset(
        "create",
        "H7-A",
        "hash:ip",
        "family",
        "inet",
        "hashsize",
        "2048",
        "maxelem",
        "1000",
        "timeout",
        "0",
        "comment");
    ipset("add", "H7-A", "10.0.0.1", "comment", "ns/svc:p cluster IP");
    ipset("add", "H7-A", "10.0.0.2", "timeout", "0", "comment", "x");
    ipset("create", "H7-B", "hash:ip,port", "counters");
    ipset("add", "H7-B", "10.96.0.1,tcp:443", "packets", "7", "bytes", "420");
    ipset("create", "H7-C", "hash:ip,port,net");
    ipset("add", "H7-C", "1.2.3.4,udp:53,10.0.0.0/8", "nomatch");
    ipset("create", "H7-D", "bitmap:port", "range", "0-1024");
    ipset("add", "H7-D", "80");
    ipset("create", "H7-E", "list:set", "size", "4");
    ipset("add", "H7-E", "H7-A");

    String saved = one.run("ipset", "save").orThrow().stdout();
    List<IpsetCodec.IpSet> sets = IpsetCodec.parseStrict(saved, "ipset save");
    assertThat(IpsetCodec.print(sets)).isEqualTo(saved);
    IpsetCodec.IpSet a =
        sets.stream().filter(s -> s.name().equals("H7-A")).findFirst().orElseThrow();
    assertThat(a.hashsize()).contains(2048L);
    assertThat(a.maxelem()).contains(1000L);
    assertThat(a.timeout()).contains(0L);
    assertThat(a.comments()).isTrue();
    assertThat(a.entries())
        .extracting(e -> e.element() + "=" + e.comment().orElse(""))
        .containsExactlyInAnyOrder("10.0.0.1=ns/svc:p cluster IP", "10.0.0.2=x");

    CommandResult r =
        two.run(List.of("ipset", "restore"), IpsetCodec.print(sets), Duration.ofSeconds(30));
    assertThat(r.ok()).as(r.stderr()).isTrue();
    assertThat(two.run("ipset", "save").orThrow().stdout()).isEqualTo(saved);

    List<IpsetCodec.IpSet> listed =
        IpsetCodec.parseStrict(one.run("ipset", "list").orThrow().stdout(), "ipset list");
    assertThat(listed).containsExactlyInAnyOrderElementsOf(sets);
  }

  @Test
  void conntrack_insertedEntries_readFromListExtendedAndProc() {
    one.run(
            "conntrack",
            "-I",
            "-p",
            "tcp",
            "-s",
            "10.0.0.1",
            "-d",
            "10.0.0.2",
            "--sport",
            "1234",
            "--dport",
            "80",
            "--state",
            "ESTABLISHED",
            "-t",
            "100",
            "-u",
            "ASSURED",
            "-m",
            "5",
            "-w",
            "3")
        .orThrow();
    one.run(
            "conntrack",
            "-I",
            "-p",
            "udp",
            "-s",
            "10.0.0.1",
            "-d",
            "10.0.0.3",
            "--sport",
            "5353",
            "--dport",
            "53",
            "-r",
            "10.0.0.9",
            "-q",
            "10.0.0.1",
            "--reply-port-src",
            "53",
            "--reply-port-dst",
            "5353",
            "-t",
            "30")
        .orThrow();
    one.run(
            "conntrack",
            "-I",
            "-p",
            "icmp",
            "-s",
            "10.0.0.1",
            "-d",
            "10.0.0.4",
            "--icmp-type",
            "8",
            "--icmp-code",
            "0",
            "--icmp-id",
            "77",
            "-t",
            "30")
        .orThrow();
    for (List<String> argv :
        List.of(
            List.of("conntrack", "-L"),
            List.of("conntrack", "-L", "-o", "extended"),
            List.of("cat", "/proc/net/nf_conntrack"))) {
      CommandResult out = one.run(argv, null, Duration.ofSeconds(10));
      if (argv.get(0).equals("cat") && !out.ok()) {
        continue; // a kernel built without nf_conntrack_procfs
      }
      List<ConntrackCodec.Entry> es =
          ConntrackCodec.parseStrict(out.orThrow().stdout(), argv.toString());
      assertThat(es).as(argv.toString()).hasSize(3);
      ConntrackCodec.Entry tcp = one(es, "tcp");
      assertThat(tcp.state()).isEqualTo("ESTABLISHED");
      assertThat(tcp.original())
          .isEqualTo(new ConntrackCodec.Tuple("10.0.0.1", "10.0.0.2", 1234, 80, Map.of()));
      assertThat(tcp.reply())
          .isEqualTo(new ConntrackCodec.Tuple("10.0.0.2", "10.0.0.1", 80, 1234, Map.of()));
      assertThat(tcp.flags()).contains("ASSURED");
      assertThat(tcp.mark()).isEqualTo(5);
      assertThat(tcp.zone()).isEqualTo(3);
      assertThat(tcp.timeout()).isBetween(1L, 100L);
      ConntrackCodec.Entry udp = one(es, "udp");
      assertThat(udp.reply())
          .isEqualTo(new ConntrackCodec.Tuple("10.0.0.9", "10.0.0.1", 53, 5353, Map.of()));
      assertThat(udp.unreplied()).isTrue();
      ConntrackCodec.Entry icmp = one(es, "icmp");
      assertThat(icmp.original().extra()).containsEntry("type", "8").containsEntry("id", "77");
      assertThat(icmp.original().sport()).isNull();
      assertThat(icmp.flags()).isEqualTo(Set.of("UNREPLIED"));
    }
  }

  private static ConntrackCodec.Entry one(List<ConntrackCodec.Entry> es, String proto) {
    return es.stream().filter(e -> e.protocol().equals(proto)).findFirst().orElseThrow();
  }
}
