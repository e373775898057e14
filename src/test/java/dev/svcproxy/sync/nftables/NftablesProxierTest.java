package dev.svcproxy.sync.nftables;

import static dev.svcproxy.sync.nftables.HandRuleset.epChain;
import static dev.svcproxy.sync.nftables.HandRuleset.spn;
import static dev.svcproxy.sync.nftables.HandRuleset.svcChain;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.NftKernel;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.nftables.NftChain;
import dev.svcproxy.nftables.NftElement;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRule;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.nftables.NftSet;
import dev.svcproxy.sync.SyncException;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** What the proxier sends, checked on the recorded transaction text (no kernel). */
class NftablesProxierTest {
  private final AtomicLong clock = new AtomicLong(1_000_000_000L);
  private final AtomicBoolean refuse = new AtomicBoolean();

  /** nft answers: no table yet on a list, and whatever {@link #refuse} says on -f. */
  private final RecordingCommandRunner runner =
      new RecordingCommandRunner(
          c -> {
            if (c.line().startsWith("nft -j list table")) {
              return new CommandResult(
                  c.argv(), 1, "", "Error: No such file or directory\nlist table ip kube-proxy");
            }
            if (c.line().equals("nft -f -") && refuse.get()) {
              return new CommandResult(c.argv(), 1, "", "Error: Could not process rule");
            }
            return new CommandResult(c.argv(), 0, "", "");
          });

  private final HandRuleset render = new HandRuleset();
  private final NftablesProxier proxier =
      new NftablesProxier(new NftKernel(runner), render, clock::get, 100_000);

  private static ProxyState three(String bEndpoint) {
    return new HandRuleset.States()
        .service("a", "172.30.0.1", "10.1.0.1")
        .service("b", "172.30.0.2", bEndpoint)
        .service("c", "172.30.0.3", "10.1.0.3")
        .build();
  }

  private List<String> transactions() {
    return runner.calls().stream()
        .filter(c -> c.line().equals("nft -f -"))
        .map(RecordingCommandRunner.Call::stdin)
        .toList();
  }

  private static Endpoint ep(String ip) {
    return Endpoint.ready(ip, 8080, "node1");
  }

  @Test
  void sync_oneEndpointChanged_sendsOnlyItsChains() {
    proxier.sync(three("10.1.0.2"), true, Set.of());
    runner.clear();
    render.portRenders = 0;

    NftSyncResult r = proxier.sync(three("10.1.0.9"), false, Set.of("ns/b"));

    String svc = svcChain(spn("b"));
    String oldEp = epChain(spn("b"), ep("10.1.0.2"));
    String newEp = epChain(spn("b"), ep("10.1.0.9"));
    // Hand-written: the new endpoint chain declared, the service chain refilled, the old endpoint
    // chain flushed (stale); the maps untouched (the ClusterIP still goes to the same chain).
    assertThat(transactions())
        .containsExactly(
            "add chain ip kube-proxy "
                + newEp
                + "\n"
                + "flush chain ip kube-proxy "
                + svc
                + "\n"
                + "flush chain ip kube-proxy "
                + oldEp
                + "\n"
                + "add rule ip kube-proxy "
                + newEp
                + " ip saddr 10.1.0.9 jump mark-for-masquerade\n"
                + "add rule ip kube-proxy "
                + newEp
                + " meta l4proto tcp dnat to 10.1.0.9:8080\n"
                + "add rule ip kube-proxy "
                + svc
                + " ip daddr 172.30.0.2 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade\n"
                + "add rule ip kube-proxy "
                + svc
                + " numgen random mod 1 vmap { 0 : goto "
                + newEp
                + " }\n");
    assertThat(r.full()).isFalse();
    assertThat(render.portRenders).isEqualTo(1);
    // A partial sync trusts its record: it never lists the table.
    assertThat(runner.calls())
        .extracting(RecordingCommandRunner.Call::line)
        .containsExactly("nft -f -");
    assertThat(proxier.staleChains()).containsExactly(oldEp);
  }

  @Test
  void sync_serviceRemoved_deletesElementsAndLaterItsChains() {
    proxier.sync(three("10.1.0.2"), true, Set.of());
    runner.clear();
    ProxyState two =
        new HandRuleset.States()
            .service("a", "172.30.0.1", "10.1.0.1")
            .service("b", "172.30.0.2", "10.1.0.2")
            .build();
    String svc = svcChain(spn("c"));
    String ep = epChain(spn("c"), ep("10.1.0.3"));

    proxier.sync(two, false, Set.of("ns/c"));
    assertThat(transactions())
        .containsExactly(
            "flush chain ip kube-proxy "
                + svc
                + "\nflush chain ip kube-proxy "
                + ep
                + "\ndelete element ip kube-proxy cluster-ips { 172.30.0.3 }\n"
                + "delete element ip kube-proxy service-ips { 172.30.0.3 . tcp . 80 }\n");

    // Less than a second later nothing is due: no nft run at all.
    runner.clear();
    clock.addAndGet(500_000_000L);
    proxier.sync(two, false, Set.of());
    assertThat(runner.calls()).isEmpty();

    clock.addAndGet(600_000_000L);
    NftSyncResult r = proxier.sync(two, false, Set.of());
    assertThat(transactions())
        .containsExactly(
            "delete chain ip kube-proxy " + svc + "\ndelete chain ip kube-proxy " + ep + "\n");
    assertThat(r.staleChainsDeleted()).isEqualTo(2);
    assertThat(proxier.staleChains()).isEmpty();
  }

  @Test
  void sync_staleChainStillReferenced_isNotDeleted() {
    // A renderer whose map keeps pointing at a chain it no longer declares: the chain must stay.
    AtomicBoolean second = new AtomicBoolean();
    NftRender r =
        NftRender.of(
            s -> {
              NftChain target = NftChain.regular("target", List.of(new NftRule("target", "drop")));
              NftSet map = NftSet.of("m", true, "ipv4_addr : verdict", "");
              NftElement el = new NftElement("m", List.of("10.0.0.1"), List.of("goto target"), "");
              NftObjects base =
                  second.get()
                      ? new NftObjects(List.of(), List.of(map), List.of(el))
                      : new NftObjects(List.of(target), List.of(map), List.of(el));
              return new NftRuleset("ip", "kube-proxy", "", base, new TreeMap<>());
            });
    NftablesProxier p = new NftablesProxier(new NftKernel(runner), r, clock::get, 100_000);
    p.sync(ProxyState.empty(), true, Set.of());
    second.set(true);
    p.sync(ProxyState.empty(), false, Set.of());
    clock.addAndGet(5_000_000_000L);
    runner.clear();
    p.sync(ProxyState.empty(), false, Set.of());
    assertThat(transactions()).isEmpty();
    assertThat(p.staleChains()).containsExactly("target");
  }

  @Test
  void sync_elementValueChanged_deletesAndAddsInOneTransaction() {
    AtomicBoolean drop = new AtomicBoolean();
    NftRender r =
        NftRender.of(
            s -> {
              NftSet map = NftSet.of("no-endpoint-services", true, "ipv4_addr : verdict", "");
              NftChain reject =
                  NftChain.regular("reject-chain", List.of(new NftRule("reject-chain", "reject")));
              NftElement el =
                  new NftElement(
                      "no-endpoint-services",
                      List.of("172.30.0.5"),
                      List.of(drop.get() ? "drop" : "goto reject-chain"),
                      "ns/x:p");
              return new NftRuleset(
                  "ip",
                  "kube-proxy",
                  "",
                  new NftObjects(List.of(reject), List.of(map), List.of(el)),
                  new TreeMap<>());
            });
    NftablesProxier p = new NftablesProxier(new NftKernel(runner), r, clock::get, 100_000);
    p.sync(ProxyState.empty(), true, Set.of());
    runner.clear();
    drop.set(true);
    p.sync(ProxyState.empty(), false, Set.of());
    assertThat(transactions())
        .containsExactly(
            "delete element ip kube-proxy no-endpoint-services { 172.30.0.5 }\n"
                + "add element ip kube-proxy no-endpoint-services { 172.30.0.5 comment \"ns/x:p\" : drop }\n");
  }

  @Test
  void sync_refused_throwsAndNextSyncIsFull() {
    proxier.sync(three("10.1.0.2"), true, Set.of());
    refuse.set(true);
    assertThatThrownBy(() -> proxier.sync(three("10.1.0.9"), false, Set.of("ns/b")))
        .isInstanceOf(SyncException.class)
        .hasMessageContaining("Could not process rule");
    refuse.set(false);
    runner.clear();

    NftSyncResult r = proxier.sync(three("10.1.0.9"), false, Set.of());

    assertThat(r.full()).isTrue();
    assertThat(runner.calls().get(0).line()).isEqualTo("nft -j list table ip kube-proxy");
  }

  @Test
  void sync_staleDeletionRefused_syncsWithoutItAndCountsCleanupFailure() {
    proxier.sync(three("10.1.0.2"), true, Set.of());
    ProxyState two =
        new HandRuleset.States()
            .service("a", "172.30.0.1", "10.1.0.1")
            .service("b", "172.30.0.2", "10.1.0.2")
            .build();
    proxier.sync(two, false, Set.of("ns/c"));
    clock.addAndGet(2_000_000_000L);
    ProxyState moved =
        new HandRuleset.States()
            .service("a", "172.30.0.1", "10.1.0.7")
            .service("b", "172.30.0.2", "10.1.0.2")
            .build();
    RecordingCommandRunner picky =
        new RecordingCommandRunner(
            c ->
                c.stdin() != null && c.stdin().contains("delete chain")
                    ? new CommandResult(c.argv(), 1, "", "Error: Device or resource busy")
                    : new CommandResult(c.argv(), 0, "", ""));
    // Same record, a kernel that refuses the deletions.
    NftablesProxier p = new NftablesProxier(new NftKernel(picky), render, clock::get, 100_000);
    p.sync(three("10.1.0.2"), true, Set.of());
    p.sync(two, false, Set.of("ns/c"));
    clock.addAndGet(2_000_000_000L);
    picky.clear();

    NftSyncResult r = p.sync(moved, false, Set.of("ns/a"));

    assertThat(r.cleanupFailures()).isEqualTo(1);
    assertThat(r.nftablesCleanupFailures()).isEqualTo(1);
    assertThat(picky.calls()).hasSize(2);
    assertThat(picky.calls().get(1).stdin()).doesNotContain("delete chain").contains("10.1.0.7");
    assertThat(p.staleChains()).contains(svcChain(spn("c")));
  }
}
