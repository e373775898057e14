package dev.svcproxy.sync.ipvs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.TableRule;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsState;
import dev.svcproxy.sync.SyncException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The IPVS proxier against a recording runner that answers the kernel reads with fixed text in the
 * real tools' formats (ipvsadm 1.31, ipset 7, iproute2 6.1 as seen in the VM). Expected lines are
 * worked out by hand from ipvsadm's syntax and upstream's rules (proxier.go syncEndpoint,
 * cleanLegacyService, graceful_termination.go).
 */
class IpvsProxierTest {
  private static final String VIP = "10.96.0.10";

  /** What the fake kernel answers. */
  private String save = "";

  private String listing = "";
  private String ipsetSave = "";
  private String addrJson = addrs();
  private String sysctls = "";
  private final Map<String, String> chainRules = new HashMap<>();
  private final Map<String, String> saves = new HashMap<>();
  private String refuseRestore;

  private final RecordingCommandRunner runner = new RecordingCommandRunner(this::answer);
  private final AtomicReference<IpvsState> desired = new AtomicReference<>();
  private final AtomicLong clock = new AtomicLong();
  private IpvsOptions options = IpvsOptions.defaults();

  private CommandResult answer(RecordingCommandRunner.Call c) {
    String line = c.line();
    String out = "";
    int rc = 0;
    String err = "";
    if (line.equals("ipvsadm -S -n")) {
      out = save;
    } else if (line.equals("ipvsadm -L -n")) {
      out = listing;
    } else if (line.equals("ipvsadm -R") && refuseRestore != null) {
      // ipvsadm -R goes on after a refused line and exits with the last line's status.
      err = refuseRestore + "\n";
    } else if (line.equals("ipset save")) {
      out = ipsetSave;
    } else if (line.equals("ipset list -t")) {
      out = listHeaders(ipsetSave);
    } else if (line.startsWith("ip -j -4 addr show dev kube-ipvs0")) {
      if (addrJson == null) {
        rc = 1;
        err = "Device \"kube-ipvs0\" does not exist.";
      } else {
        out = addrJson;
      }
    } else if (line.startsWith("ip -o link show dev kube-ipvs0")) {
      rc = addrJson == null ? 1 : 0;
    } else if (line.startsWith("grep ")) {
      out = sysctls;
    } else if (line.startsWith("iptables -w 5 -W 100000 -t ")) {
      String[] f = line.split(" ");
      String key = f[6] + " " + f[8];
      out = chainRules.getOrDefault(key, "-P " + f[8] + " ACCEPT\n");
    } else if (line.startsWith("iptables-save -t ")) {
      out = saves.getOrDefault(c.argv().get(2), "");
    }
    return new CommandResult(c.argv(), rc, out, err);
  }

  /** `ipset list -t` of what `ipset save` prints, in ipset 7.17's layout. */
  private static String listHeaders(String save) {
    StringBuilder b = new StringBuilder();
    Map<String, Integer> counts = new java.util.LinkedHashMap<>();
    for (String l : save.lines().toList()) {
      String[] f = l.split(" ");
      if (f[0].equals("create")) {
        counts.put(f[1], 0);
      } else if (f[0].equals("add")) {
        counts.merge(f[1], 1, Integer::sum);
      }
    }
    counts.forEach(
        (name, n) ->
            b.append(b.isEmpty() ? "" : "\n")
                .append("Name: ")
                .append(name)
                .append("\nType: hash:ip,port\nRevision: 6\n")
                .append("Header: family inet hashsize 1024 maxelem 65536 bucketsize 12\n")
                .append("Size in memory: 520\nReferences: 1\nNumber of entries: ")
                .append(n)
                .append('\n'));
    return b.toString();
  }

  private static String addrs(String... ips) {
    StringBuilder b = new StringBuilder("[{\"ifname\":\"kube-ipvs0\",\"addr_info\":[");
    for (int i = 0; i < ips.length; i++) {
      b.append(i == 0 ? "" : ",")
          .append("{\"family\":\"inet\",\"local\":\"")
          .append(ips[i])
          .append("\",\"prefixlen\":32}");
    }
    return b.append("]}]").toString();
  }

  private IpvsProxier proxier() {
    return new IpvsProxier(
        new IpvsKernel(runner),
        new IptablesKernel(runner),
        s -> desired.get(),
        options,
        Duration.ofSeconds(60),
        clock::get);
  }

  private static final Ruleset RULES =
      IptablesCodec.parseStrict(
          "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN\nCOMMIT\n",
          "test");

  private static final TableRule JUMP =
      new TableRule(
          "nat",
          IptablesCodec.parseRule(
              "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"));

  private static VirtualServer tcp(String vip, int port) {
    return VirtualServer.of(VirtualServer.Kind.TCP, vip, port, "rr");
  }

  private static VirtualServer udp(String vip, int port) {
    return VirtualServer.of(VirtualServer.Kind.UDP, vip, port, "rr");
  }

  private static IpvsService svc(VirtualServer vs, String... endpoints) {
    List<RealServer> reals = new ArrayList<>();
    for (String e : endpoints) {
      String[] hp = e.split(":");
      reals.add(RealServer.masq(hp[0], Integer.parseInt(hp[1]), 1));
    }
    return new IpvsService(vs, reals);
  }

  private static IpvsState state(List<String> addresses, IpvsService... services) {
    List<IpsetCodec.Entry> entries = new ArrayList<>();
    for (IpvsService s : services) {
      entries.add(
          new IpsetCodec.Entry(
              s.server().address()
                  + ","
                  + s.server().kind().name().toLowerCase()
                  + ":"
                  + s.server().port(),
              List.of()));
    }
    IpsetCodec.IpSet clusterIp =
        new IpsetCodec.IpSet(
            "KUBE-CLUSTER-IP",
            "hash:ip,port",
            List.of(
                new IpsetCodec.Option("family", "inet"),
                new IpsetCodec.Option("hashsize", "1024"),
                new IpsetCodec.Option("maxelem", "65536")),
            entries);
    return new IpvsState(
        addresses,
        List.of(clusterIp),
        new IpvsTable(List.of(services)),
        RULES,
        List.of(JUMP),
        List.of(
            new IpvsState.Sysctl("net/ipv4/vs/conntrack", "1"),
            new IpvsState.Sysctl("net/ipv4/ip_forward", "1")));
  }

  /** The kernel as a previous sync of {@code s} left it, in the tools' own output formats. */
  private void kernelHolds(IpvsState s) {
    StringBuilder b = new StringBuilder();
    for (IpvsService svc : s.services().services()) {
      VirtualServer vs = svc.server();
      b.append("-A ").append(vs.kind().option()).append(' ').append(vs.target()).append(" -s rr\n");
      for (RealServer r : svc.reals()) {
        b.append("-a ")
            .append(vs.kind().option())
            .append(' ')
            .append(vs.target())
            .append(" -r ")
            .append(r.target())
            .append(" -m -w ")
            .append(r.weight())
            .append('\n');
      }
    }
    save = b.toString();
    StringBuilder sets = new StringBuilder();
    for (IpsetCodec.IpSet set : s.ipsets()) {
      sets.append("create ")
          .append(set.name())
          .append(" hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12")
          .append(" initval 0x01e20b20\n");
      set.members()
          .forEach(m -> sets.append("add ").append(set.name()).append(' ').append(m).append('\n'));
    }
    ipsetSave = sets.toString();
    addrJson = addrs(s.dummyAddresses().toArray(String[]::new));
    sysctls = "/proc/sys/net/ipv4/vs/conntrack:1\n/proc/sys/net/ipv4/ip_forward:1\n";
    chainRules.put(
        "nat PREROUTING",
        "-P PREROUTING ACCEPT\n"
            + "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n");
  }

  private List<String> lines(String argv) {
    return runner.calls().stream()
        .filter(c -> c.line().equals(argv))
        .flatMap(c -> c.stdin().lines())
        .toList();
  }

  private List<String> writes() {
    return runner.calls().stream()
        .map(RecordingCommandRunner.Call::line)
        .filter(
            l ->
                l.equals("ipvsadm -R")
                    || l.equals("ipset restore")
                    || l.startsWith("ip -force -batch")
                    || l.startsWith("sysctl -w")
                    || l.startsWith("ipvsadm --set"))
        .toList();
  }

  private IpvsProxier synced(IpvsState s) {
    desired.set(s);
    kernelHolds(s);
    IpvsProxier p = proxier();
    p.sync(ProxyState.empty(), true, Set.of());
    runner.clear();
    return p;
  }

  @Test
  void sync_fullSyncOfWhatTheKernelHolds_writesNoIpvsIpsetAddressOrSysctl() {
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    desired.set(s);
    kernelHolds(s);
    proxier().sync(ProxyState.empty(), true, Set.of());
    assertThat(writes()).isEmpty();
  }

  @Test
  void sync_partialSyncWithNoChange_sendsNothingAtAll() {
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    IpvsProxier p = synced(s);
    p.sync(ProxyState.empty(), false, Set.of());
    assertThat(runner.calls()).isEmpty();
  }

  @Test
  void sync_oneEndpointAdded_sendsOneAddLineAndNoRead() {
    IpvsProxier p = synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080", "10.244.2.3:8080")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    assertThat(writes()).containsExactly("ipvsadm -R");
    assertThat(lines("ipvsadm -R"))
        .containsExactly("-a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1");
    assertThat(runner.calls()).noneMatch(c -> c.line().startsWith("ipvsadm -S"));
  }

  @Test
  void sync_udpEndpointRemoved_deletedAtOnceWithoutReadingConnections() {
    IpvsProxier p =
        synced(state(List.of(VIP), svc(udp(VIP, 53), "10.244.1.2:53", "10.244.2.3:53")));
    desired.set(state(List.of(VIP), svc(udp(VIP, 53), "10.244.1.2:53")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    assertThat(lines("ipvsadm -R")).containsExactly("-d -u 10.96.0.10:53 -r 10.244.2.3:53");
    assertThat(runner.calls()).noneMatch(c -> c.line().equals("ipvsadm -L -n"));
    assertThat(p.draining()).isEmpty();
  }

  @Test
  void sync_tcpEndpointRemovedWithoutConnections_deletedAtOnce() {
    IpvsProxier p =
        synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080", "10.244.2.3:8080")));
    listing = listing(0, 0);
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    assertThat(lines("ipvsadm -R")).containsExactly("-d -t 10.96.0.10:80 -r 10.244.2.3:8080");
    assertThat(p.draining()).isEmpty();
  }

  /** ipvsadm -Ln as 1.31 prints it, 10.244.2.3:8080 with the given connection counts. */
  private static String listing(int active, int inactive) {
    return "IP Virtual Server version 1.2.1 (size=4096)\n"
        + "Prot LocalAddress:Port Scheduler Flags\n"
        + "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        + "TCP  10.96.0.10:80 rr\n"
        + "  -> 10.244.1.2:8080              Masq    1      0          0         \n"
        + "  -> 10.244.2.3:8080              Masq    1      "
        + active
        + "          "
        + inactive
        + "         \n";
  }

  @Test
  void sync_tcpEndpointRemovedWithConnections_weightZeroThenDeletedWhenDrained() {
    IpvsProxier p =
        synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080", "10.244.2.3:8080")));
    listing = listing(1, 2);
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    assertThat(lines("ipvsadm -R"))
        .containsExactly("-e -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 0");
    assertThat(p.draining()).containsExactly("TCP 10.96.0.10:80/10.244.2.3:8080");

    // Still busy: the retry leaves it; a later sync does not touch it either.
    runner.clear();
    p.retryDraining();
    assertThat(writes()).isEmpty();
    p.sync(ProxyState.empty(), false, Set.of());
    assertThat(writes()).isEmpty();

    // Drained: the retry deletes it.
    listing = listing(0, 0);
    runner.clear();
    p.retryDraining();
    assertThat(lines("ipvsadm -R")).containsExactly("-d -t 10.96.0.10:80 -r 10.244.2.3:8080");
    assertThat(p.draining()).isEmpty();
  }

  @Test
  void sync_retryIntervalPassed_syncRetriesDraining() {
    IpvsProxier p =
        synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080", "10.244.2.3:8080")));
    listing = listing(1, 0);
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    listing = listing(0, 0);
    runner.clear();
    clock.addAndGet(Duration.ofSeconds(59).toNanos());
    p.sync(ProxyState.empty(), false, Set.of());
    assertThat(writes()).isEmpty();
    clock.addAndGet(Duration.ofSeconds(1).toNanos());
    p.sync(ProxyState.empty(), false, Set.of());
    assertThat(lines("ipvsadm -R")).containsExactly("-d -t 10.96.0.10:80 -r 10.244.2.3:8080");
  }

  @Test
  void sync_drainingEndpointReturns_deletedAndReAddedWithWeightOne() {
    IpvsProxier p =
        synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080", "10.244.2.3:8080")));
    listing = listing(1, 0);
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    runner.clear();
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080", "10.244.2.3:8080")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    assertThat(lines("ipvsadm -R"))
        .containsExactly(
            "-d -t 10.96.0.10:80 -r 10.244.2.3:8080",
            "-a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1");
    assertThat(p.draining()).isEmpty();
  }

  @Test
  void sync_firstSyncAfterRestart_resetsWeightZeroToOne() {
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    desired.set(s);
    kernelHolds(s);
    save = "-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 0\n";
    proxier().sync(ProxyState.empty(), true, Set.of());
    assertThat(lines("ipvsadm -R"))
        .containsExactly("-e -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1");
  }

  @Test
  void sync_staleVirtualServer_deletedAndItsAddressUnbound() {
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    desired.set(s);
    kernelHolds(s);
    save += "-A -t 10.96.0.99:443 -s rr\n-a -t 10.96.0.99:443 -r 10.244.1.9:443 -m -w 1\n";
    addrJson = addrs(VIP, "10.96.0.99");
    proxier().sync(ProxyState.empty(), true, Set.of());
    assertThat(lines("ipvsadm -R")).containsExactly("-D -t 10.96.0.99:443");
    assertThat(lines("ip -force -batch -"))
        .containsExactly("address del 10.96.0.99/32 dev kube-ipvs0");
  }

  @Test
  void sync_staleVirtualServerInExcludedCidr_kept() {
    options = new IpvsOptions("rr", List.of(Cidr.parse("10.200.0.0/16")), false, 0, 0, 0);
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    desired.set(s);
    kernelHolds(s);
    save += "-A -t 10.200.0.5:80 -s wrr\n-A -t 10.96.0.99:443 -s rr\n";
    proxier().sync(ProxyState.empty(), true, Set.of());
    assertThat(lines("ipvsadm -R")).containsExactly("-D -t 10.96.0.99:443");
  }

  @Test
  void sync_emptyNode_createsDummyDeviceAddressesServicesAndSets() {
    addrJson = null;
    sysctls = "/proc/sys/net/ipv4/vs/conntrack:0\n/proc/sys/net/ipv4/ip_forward:1\n";
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    proxier().sync(ProxyState.empty(), true, Set.of());
    assertThat(lines("ip -force -batch -"))
        .containsExactly(
            "link add kube-ipvs0 type dummy", "address add 10.96.0.10/32 dev kube-ipvs0");
    assertThat(lines("ipvsadm -R"))
        .containsExactly(
            "-A -t 10.96.0.10:80 -s rr", "-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1");
    assertThat(lines("ipset restore"))
        .containsExactly(
            "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 -exist",
            "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80 -exist");
    assertThat(writes()).contains("sysctl -w net/ipv4/vs/conntrack=1");
    assertThat(lines("iptables-restore -w 5 -W 100000 --noflush --counters"))
        .contains(
            "-I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES");
  }

  @Test
  void sync_ipsetEntriesChanged_addsAndDeletesOnlyThose() {
    IpvsProxier p = synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    desired.set(state(List.of("10.96.0.11"), svc(tcp("10.96.0.11", 80), "10.244.1.2:8080")));
    p.sync(ProxyState.empty(), false, Set.of("ns/a"));
    // Deletes first, as upstream's syncIPSetEntries.
    assertThat(lines("ipset restore"))
        .containsExactly(
            "del KUBE-CLUSTER-IP 10.96.0.10,tcp:80 -exist",
            "add KUBE-CLUSTER-IP 10.96.0.11,tcp:80 -exist");
    assertThat(lines("ip -force -batch -"))
        .containsExactly(
            "address add 10.96.0.11/32 dev kube-ipvs0", "address del 10.96.0.10/32 dev kube-ipvs0");
    assertThat(lines("ipvsadm -R"))
        .containsExactly(
            "-A -t 10.96.0.11:80 -s rr",
            "-a -t 10.96.0.11:80 -r 10.244.1.2:8080 -m -w 1",
            "-D -t 10.96.0.10:80");
  }

  @Test
  void sync_ipvsadmRefusesALine_throwsAndNextSyncReadsTheKernel() {
    IpvsProxier p = synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    desired.set(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080", "10.244.2.3:8080")));
    refuseRestore = "Memory allocation problem";
    assertThatThrownBy(() -> p.sync(ProxyState.empty(), false, Set.of("ns/a")))
        .isInstanceOf(SyncException.class)
        .hasMessageContaining("Memory allocation problem");
    // The kernel kept the old table: the next sync, partial or not, reads it and sends the line
    // again.
    refuseRestore = null;
    runner.clear();
    p.sync(ProxyState.empty(), false, Set.of());
    assertThat(runner.calls()).anyMatch(c -> c.line().equals("ipvsadm -S -n"));
    assertThat(lines("ipvsadm -R"))
        .containsExactly("-a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1");
  }

  @Test
  void sync_timeoutsSet_ipvsadmSetOnlyWhenDifferent() {
    options = new IpvsOptions("rr", List.of(), false, 1000, 0, 200);
    IpvsState s = state(List.of(VIP));
    desired.set(s);
    kernelHolds(s);
    proxier().sync(ProxyState.empty(), true, Set.of());
    // The fake prints no timeouts, so they count as different.
    assertThat(writes()).contains("ipvsadm --set 1000 0 200");
  }

  @Test
  void missing_dummyDeviceOrJumpGone_reported() {
    IpvsProxier p = synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    assertThat(p.missing()).isEmpty();
    addrJson = null;
    chainRules.put("nat PREROUTING", "-P PREROUTING ACCEPT\n");
    assertThat(p.missing())
        .containsExactly(
            "kube-ipvs0",
            "nat -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES");
  }

  @Test
  void missing_ipvsadmCleared_reportedSoThePeriodicCheckResyncs() {
    IpvsProxier p = synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    assertThat(p.missing()).isEmpty();
    save = "";
    assertThat(p.missing()).containsExactly("IPVS virtual/real servers (0/0 of 1/1)");
  }

  @Test
  void missing_realServerDeleted_reported() {
    IpvsProxier p = synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    save = "-A -t 10.96.0.10:80 -s rr\n";
    assertThat(p.missing()).containsExactly("IPVS virtual/real servers (1/0 of 1/1)");
  }

  @Test
  void missing_ipsetFlushedOrAddressDeleted_reported() {
    IpvsProxier p = synced(state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080")));
    ipsetSave =
        ipsetSave.lines().filter(l -> !l.startsWith("add ")).toList().stream()
            .reduce("", (a, l) -> a + l + "\n");
    addrJson = addrs();
    assertThat(p.missing())
        .containsExactly("kube-ipvs0 addresses (0 of 1)", "ipset KUBE-CLUSTER-IP (0 of 1 entries)");
  }

  @Test
  void missing_unreadableIpvsTableLine_reportedAfterEverySync() {
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    desired.set(s);
    kernelHolds(s);
    save = save + "-A -t 10.96.0.99:80 -s rr --no-such-option\n";
    IpvsProxier p = proxier();
    p.sync(ProxyState.empty(), true, Set.of());
    assertThat(p.missing())
        .anyMatch(m -> m.startsWith("unreadable IPVS table line ipvsadm -S -n:3"));
  }

  @Test
  void cleanup_removesVirtualServersDeviceChainsAndSets() {
    saves.put(
        "nat",
        "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODE-PORT - [0:0]\n"
            + "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            + "-A KUBE-SERVICES -j KUBE-NODE-PORT\nCOMMIT\n");
    RecordingCommandRunner withSets =
        new RecordingCommandRunner(
            c ->
                c.line().equals("ipset list -n")
                    ? new CommandResult(c.argv(), 0, "KUBE-CLUSTER-IP\nOTHER\n", "")
                    : answer(c));
    new IpvsProxier(
            new IpvsKernel(withSets), new IptablesKernel(withSets), s -> desired.get(), options)
        .cleanup();
    List<String> all = withSets.calls().stream().map(RecordingCommandRunner.Call::line).toList();
    assertThat(all).contains("ipvsadm -C", "ip link del kube-ipvs0");
    String natRestore =
        withSets.calls().stream()
            .filter(c -> c.line().startsWith("iptables-restore") && c.stdin().startsWith("*nat"))
            .findFirst()
            .orElseThrow()
            .stdin();
    assertThat(natRestore)
        .isEqualTo(
            "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODE-PORT - [0:0]\n"
                + "-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
                + "-X KUBE-SERVICES\n-X KUBE-NODE-PORT\nCOMMIT\n");
    assertThat(
            withSets.calls().stream()
                .filter(c -> c.line().equals("ipset restore"))
                .map(RecordingCommandRunner.Call::stdin))
        .containsExactly("destroy KUBE-CLUSTER-IP\n");
    // The sets go after the chains that use them.
    assertThat(all.indexOf("ipset restore")).isGreaterThan(all.indexOf("iptables-save -t filter"));
  }

  @Test
  void sync_firstSync_removesIptablesModeServiceChainsAndTheirJumps() {
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    desired.set(s);
    kernelHolds(s);
    saves.put(
        "filter",
        "*filter\n:INPUT ACCEPT [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n"
            + "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible"
            + " service portals\" -j KUBE-EXTERNAL-SERVICES\nCOMMIT\n");
    saves.put(
        "nat",
        "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAA - [0:0]\n"
            + ":KUBE-SEP-BBBB - [0:0]\n-A KUBE-SVC-AAAA -j KUBE-SEP-BBBB\nCOMMIT\n");
    proxier().sync(ProxyState.empty(), true, Set.of());
    List<String> restores =
        runner.calls().stream()
            .filter(c -> c.line().startsWith("iptables-restore"))
            .map(RecordingCommandRunner.Call::stdin)
            .toList();
    assertThat(restores)
        .contains(
            "*nat\n:KUBE-SVC-AAAA - [0:0]\n:KUBE-SEP-BBBB - [0:0]\n-X KUBE-SVC-AAAA\n-X KUBE-SEP-BBBB\nCOMMIT\n",
            "*filter\n:KUBE-EXTERNAL-SERVICES - [0:0]\n-D INPUT -m conntrack --ctstate NEW -m comment"
                + " --comment \"kubernetes externally-visible service portals\" -j"
                + " KUBE-EXTERNAL-SERVICES\n-X KUBE-EXTERNAL-SERVICES\nCOMMIT\n");
    // KUBE-SERVICES is IPVS mode's too: it stays.
    assertThat(String.join("", restores)).doesNotContain("-X KUBE-SERVICES");
  }

  @Test
  void removeLeftoversForOtherMode_noSignOfIpvsMode_touchesNothing() {
    addrJson = null;
    boolean removed =
        IpvsProxier.removeLeftoversForOtherMode(new IpvsKernel(runner), new IptablesKernel(runner));
    assertThat(removed).isFalse();
    assertThat(runner.calls())
        .extracting(RecordingCommandRunner.Call::line)
        .containsExactly("ip -o link show dev kube-ipvs0", "ipset list -n");
  }

  @Test
  void removeLeftoversForOtherMode_kubeIpvs0Present_removesIpvsModeState() {
    boolean removed =
        IpvsProxier.removeLeftoversForOtherMode(new IpvsKernel(runner), new IptablesKernel(runner));
    assertThat(removed).isTrue();
    assertThat(runner.calls())
        .extracting(RecordingCommandRunner.Call::line)
        .contains("ipvsadm -C", "ip link del kube-ipvs0");
  }

  @Test
  void sync_firstSync_removesIptablesModeJumpsIntoChainsIpvsModeKeeps() {
    IpvsState s = state(List.of(VIP), svc(tcp(VIP, 80), "10.244.1.2:8080"));
    desired.set(s);
    kernelHolds(s);
    // iptables mode's nat OUTPUT jump into KUBE-SERVICES, and IPVS mode's own PREROUTING one.
    saves.put(
        "nat",
        "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n"
            + "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            + "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
            + "COMMIT\n");
    proxier().sync(ProxyState.empty(), true, Set.of());
    assertThat(
            runner.calls().stream()
                .filter(c -> c.line().startsWith("iptables-restore"))
                .map(RecordingCommandRunner.Call::stdin))
        .contains(
            "*nat\n-D OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
                + "COMMIT\n");
  }
}
