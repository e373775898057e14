package dev.svcproxy.sync.ipvs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsState;
import dev.svcproxy.testutil.KernelTests;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The IPVS proxier's ipset sync against an ipset that behaves as the kernel's: in-JVM, a fake that
 * stores and refuses entries as ipset 7.17 on kernel 6.x does (observed in a netns: `ipset add T
 * 1.2.3.4,tcp:80,10.0.0.1/32` is saved as `add T 1.2.3.4,tcp:80,10.0.0.1`; `...,10.0.0.5/24` as
 * `...,10.0.0.0/24`; `...,0.0.0.0/0` is refused with "Error in line N: The value of the CIDR
 * parameter of the IP address is invalid", `ipset restore` stopping there with the lines before it
 * applied); and the host kernel's ipset in a throw-away network namespace.
 */
class IpvsProxierIpsetTest {
  private static final String SET = "KUBE-LOAD-BALANCER-SOURCE-CIDR";

  /** A kernel-like ipset: sets of saved elements, with the kernel's rewriting and refusals. */
  private static final class FakeIpset {
    final Map<String, Set<String>> sets = new LinkedHashMap<>();
    final Set<String> refuseAlso = new LinkedHashSet<>();

    /** What ipset saves for an element of a hash:ip,port,net set (hand-written, see above). */
    static String saved(String element) {
      String[] p = element.split(",");
      String[] net = p[2].split("/");
      if (net.length == 2 && net[1].equals("0")) {
        throw new IllegalArgumentException(
            "The value of the CIDR parameter of the IP address is invalid");
      }
      if (net.length == 1 || net[1].equals("32")) {
        return p[0] + "," + p[1] + "," + net[0];
      }
      int len = Integer.parseInt(net[1]);
      String[] o = net[0].split("\\.");
      long a = 0;
      for (String x : o) {
        a = a << 8 | Long.parseLong(x);
      }
      a &= 0xffffffffL << (32 - len) & 0xffffffffL;
      String masked = (a >> 24) + "." + (a >> 16 & 255) + "." + (a >> 8 & 255) + "." + (a & 255);
      return p[0] + "," + p[1] + "," + masked + "/" + len;
    }

    CommandResult restore(List<String> argv, String stdin) {
      int n = 0;
      for (String line : stdin.lines().toList()) {
        n++;
        String[] f = line.split(" ");
        try {
          switch (f[0]) {
            case "create" -> sets.putIfAbsent(f[1], new LinkedHashSet<>());
            case "add" -> {
              String s = saved(f[2]);
              if (refuseAlso.contains(s)) {
                throw new IllegalArgumentException(
                    "Hash is full, cannot add more elements to set " + f[1]);
              }
              sets.get(f[1]).add(s);
            }
            case "del" -> sets.get(f[1]).remove(saved(f[2]));
            case "flush" -> sets.get(f[1]).clear();
            case "destroy" -> sets.remove(f[1]);
            default -> throw new IllegalArgumentException("unknown command " + f[0]);
          }
        } catch (IllegalArgumentException e) {
          return new CommandResult(
              argv, 1, "", "ipset v7.17: Error in line " + n + ": " + e.getMessage() + "\n");
        }
      }
      return new CommandResult(argv, 0, "", "");
    }

    String save() {
      StringBuilder b = new StringBuilder();
      sets.forEach(
          (name, members) -> {
            b.append("create ")
                .append(name)
                .append(" hash:ip,port,net family inet hashsize 1024 maxelem 65536 bucketsize 12")
                .append(" initval 0x4d0c7b56\n");
            members.forEach(m -> b.append("add ").append(name).append(' ').append(m).append('\n'));
          });
      return b.toString();
    }
  }

  private final FakeIpset ipset = new FakeIpset();

  /** The rest of the kernel: an empty IPVS table, kube-ipvs0 without addresses, iptables as is. */
  private CommandResult answer(RecordingCommandRunner.Call c) {
    String line = c.line();
    if (line.equals("ipset save")) {
      return new CommandResult(c.argv(), 0, ipset.save(), "");
    }
    if (line.equals("ipset restore")) {
      return ipset.restore(c.argv(), c.stdin());
    }
    if (line.startsWith("ip -j -4 addr show dev kube-ipvs0")) {
      return new CommandResult(c.argv(), 0, "[{\"ifname\":\"kube-ipvs0\",\"addr_info\":[]}]", "");
    }
    return new CommandResult(c.argv(), 0, "", "");
  }

  private final RecordingCommandRunner runner = new RecordingCommandRunner(this::answer);

  private static IpvsState state(String... elements) {
    return stateMax("65536", elements);
  }

  private static IpvsState stateMax(String maxelem, String... elements) {
    List<IpsetCodec.Entry> entries = new ArrayList<>();
    for (String e : elements) {
      entries.add(new IpsetCodec.Entry(e, List.of()));
    }
    IpsetCodec.IpSet set =
        new IpsetCodec.IpSet(
            SET,
            "hash:ip,port,net",
            List.of(
                new IpsetCodec.Option("family", "inet"),
                new IpsetCodec.Option("hashsize", "1024"),
                new IpsetCodec.Option("maxelem", maxelem)),
            entries);
    return new IpvsState(
        List.of(),
        List.of(set),
        new IpvsTable(List.of()),
        IptablesCodec.parseStrict(
            "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN\nCOMMIT\n",
            "test"),
        List.of(),
        List.of());
  }

  private static IpvsProxier proxier(CommandRunner runner, IpvsState desired) {
    AtomicLong clock = new AtomicLong();
    return new IpvsProxier(
        new IpvsKernel(runner),
        new IptablesKernel(runner),
        s -> desired,
        IpvsOptions.defaults(),
        Duration.ofSeconds(60),
        clock::get);
  }

  private List<String> ipsetRestoreLines() {
    return runner.calls().stream()
        .filter(c -> c.line().equals("ipset restore"))
        .flatMap(c -> c.stdin().lines())
        .toList();
  }

  @Test
  void sync_secondFullSyncOfSlash32SourceRange_sendsNothingAndEntryStays() {
    IpvsProxier p = proxier(runner, state("1.2.3.4,tcp:80,203.0.113.7/32"));
    p.sync(ProxyState.empty(), true, Set.of());
    runner.clear();
    p.sync(ProxyState.empty(), true, Set.of());
    assertThat(ipsetRestoreLines()).isEmpty();
    assertThat(ipset.sets.get(SET)).containsExactly("1.2.3.4,tcp:80,203.0.113.7");
  }

  @Test
  void sync_entryNotOnNetworkBoundary_comparedAsTheKernelMasksIt() {
    IpvsProxier p = proxier(runner, state("1.2.3.4,tcp:80,10.0.0.5/24"));
    p.sync(ProxyState.empty(), true, Set.of());
    runner.clear();
    p.sync(ProxyState.empty(), true, Set.of());
    assertThat(ipsetRestoreLines()).isEmpty();
    assertThat(ipset.sets.get(SET)).containsExactly("1.2.3.4,tcp:80,10.0.0.0/24");
  }

  @Test
  void sync_entryReplaced_deletesBeforeAdds() {
    proxier(runner, state("1.2.3.4,tcp:80,10.1.0.0/16")).sync(ProxyState.empty(), true, Set.of());
    runner.clear();
    proxier(runner, state("1.2.3.4,tcp:80,10.2.0.0/16")).sync(ProxyState.empty(), true, Set.of());
    // Upstream's syncIPSetEntries: the deletes (current - active) first, then the adds.
    assertThat(ipsetRestoreLines())
        .containsExactly(
            "del " + SET + " 1.2.3.4,tcp:80,10.1.0.0/16 -exist",
            "add " + SET + " 1.2.3.4,tcp:80,10.2.0.0/16 -exist");
  }

  @Test
  void sync_slash0SourceRange_skippedAndTheRestApplied() {
    IpvsProxier p =
        proxier(
            runner,
            state(
                "1.2.3.4,tcp:80,0.0.0.0/0", "1.2.3.4,tcp:80,10.0.0.0/8", "5.6.7.8,tcp:80,1.1.1.1"));
    p.sync(ProxyState.empty(), true, Set.of());
    assertThat(ipset.sets.get(SET))
        .containsExactlyInAnyOrder("1.2.3.4,tcp:80,10.0.0.0/8", "5.6.7.8,tcp:80,1.1.1.1");
    assertThat(runner.calls()).anyMatch(c -> c.line().startsWith("iptables-restore"));
  }

  @Test
  void sync_kernelRefusesOneAddLine_skipsItAppliesTheRestAndSucceeds() {
    ipset.refuseAlso.add("1.2.3.4,tcp:80,10.2.0.0/16");
    IpvsProxier p =
        proxier(
            runner,
            state(
                "1.2.3.4,tcp:80,10.1.0.0/16",
                "1.2.3.4,tcp:80,10.2.0.0/16",
                "1.2.3.4,tcp:80,10.3.0.0/16"));
    String summary = p.sync(ProxyState.empty(), true, Set.of()).summary();
    assertThat(ipset.sets.get(SET))
        .containsExactlyInAnyOrder("1.2.3.4,tcp:80,10.1.0.0/16", "1.2.3.4,tcp:80,10.3.0.0/16");
    assertThat(summary).contains("ipset refused: add " + SET + " 1.2.3.4,tcp:80,10.2.0.0/16");
    assertThat(runner.calls()).anyMatch(c -> c.line().startsWith("iptables-restore"));
  }

  /** ipset commands go to the host kernel's ipset in {@code netns}; the rest to the fake. */
  private CommandRunner inNetns(String netns) {
    ProcessCommandRunner real = new ProcessCommandRunner();
    return new CommandRunner() {
      @Override
      public CommandResult run(List<String> argv, String stdin, Duration timeout) {
        if (argv.get(0).equals("ipset")) {
          List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", netns));
          full.addAll(argv);
          CommandResult r = real.run(full, stdin, timeout);
          runner.run(argv, stdin, timeout);
          return new CommandResult(argv, r.exitCode(), r.stdout(), r.stderr());
        }
        return runner.run(argv, stdin, timeout);
      }

      @Override
      public Spawned spawn(List<String> argv, Path log) {
        throw new UnsupportedOperationException();
      }
    };
  }

  @Test
  void sync_hostKernelRefusesAnAdd_skipsThatLineAndAppliesTheRest() {
    // A set of at most 2 elements: the kernel refuses the third add ("Hash is full"), and
    // `ipset restore` names its line.
    KernelTests.require("ipset in a network namespace");
    ProcessCommandRunner real = new ProcessCommandRunner();
    String netns = "svpfixf" + ProcessHandle.current().pid();
    real.run("ip", "netns", "add", netns).orThrow();
    try {
      IpvsProxier p =
          proxier(
              inNetns(netns),
              stateMax(
                  "2",
                  "1.2.3.4,tcp:80,10.1.0.0/16",
                  "1.2.3.4,tcp:80,10.2.0.0/16",
                  "1.2.3.4,tcp:80,10.3.0.0/16"));
      String summary = p.sync(ProxyState.empty(), true, Set.of()).summary();
      assertThat(summary).contains("ipset refused: add " + SET + " 1.2.3.4,tcp:80,10.3.0.0/16");
      assertThat(runner.calls()).anyMatch(c -> c.line().startsWith("iptables-restore"));
      assertThat(
              real.run("ip", "netns", "exec", netns, "ipset", "save", SET)
                  .stdout()
                  .lines()
                  .filter(l -> l.startsWith("add "))
                  .toList())
          .containsExactlyInAnyOrder(
              "add " + SET + " 1.2.3.4,tcp:80,10.1.0.0/16",
              "add " + SET + " 1.2.3.4,tcp:80,10.2.0.0/16");
    } finally {
      real.run("ip", "netns", "del", netns);
    }
  }

  @Test
  void sync_hostKernelIpset_secondFullSyncSendsNothingAndSlash0DoesNotBlock() {
    KernelTests.require("ipset in a network namespace");
    ProcessCommandRunner real = new ProcessCommandRunner();
    String netns = "svpfix" + ProcessHandle.current().pid();
    real.run("ip", "netns", "add", netns).orThrow();
    try {
      CommandRunner r = inNetns(netns);
      IpvsProxier p =
          proxier(
              r,
              state(
                  "1.2.3.4,tcp:80,0.0.0.0/0",
                  "1.2.3.4,tcp:80,203.0.113.7/32",
                  "1.2.3.4,tcp:80,10.0.0.5/24"));
      p.sync(ProxyState.empty(), true, Set.of());
      runner.clear();
      p.sync(ProxyState.empty(), true, Set.of());
      assertThat(ipsetRestoreLines()).isEmpty();
      CommandResult test =
          real.run(
              "ip", "netns", "exec", netns, "ipset", "test", SET, "1.2.3.4,tcp:80,203.0.113.7");
      assertThat(test.exitCode()).isZero();
      assertThat(
              real.run("ip", "netns", "exec", netns, "ipset", "save", SET)
                  .stdout()
                  .lines()
                  .filter(l -> l.startsWith("add "))
                  .toList())
          .containsExactlyInAnyOrder(
              "add " + SET + " 1.2.3.4,tcp:80,203.0.113.7",
              "add " + SET + " 1.2.3.4,tcp:80,10.0.0.0/24");
    } finally {
      real.run("ip", "netns", "del", netns);
    }
  }
}
