package dev.svcproxy.sync.nftables;

import static dev.svcproxy.sync.nftables.HandRuleset.epChain;
import static dev.svcproxy.sync.nftables.HandRuleset.spn;
import static dev.svcproxy.sync.nftables.HandRuleset.svcChain;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.NftKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.nftables.NftChain;
import dev.svcproxy.nftables.NftObjects;
import dev.svcproxy.nftables.NftRule;
import dev.svcproxy.nftables.NftRuleset;
import dev.svcproxy.nftables.NftTransaction;
import dev.svcproxy.nftables.NftVerb;
import dev.svcproxy.sync.SyncException;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The proxier against the kernel's nf_tables in a throw-away lab namespace: what it leaves is what
 * a plain {@code nft -f} of the whole desired table leaves (the kernel is the oracle), partial
 * syncs rewrite nothing else, refused transactions change nothing, stale chains go.
 */
class NftablesProxierKernelTest {
  private static Lab lab;
  private static CommandRunner node;
  private static CommandRunner oracle;

  private final AtomicLong clock = new AtomicLong(1_000_000_000L);
  private final HandRuleset render = new HandRuleset();

  @BeforeAll
  static void lab() {
    KernelTests.require("nftables kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node = lab.runner().inNetns(lab.node("node1").netns());
    oracle = lab.runner().inNetns(lab.node("node2").netns());
  }

  @AfterAll
  static void close() {
    if (lab != null) {
      lab.close();
    }
  }

  @BeforeEach
  void clean() {
    for (CommandRunner r : List.of(node, oracle)) {
      r.run("nft", "delete", "table", "ip", "kube-proxy");
      r.run("nft", "delete", "table", "ip6", "kube-proxy");
    }
  }

  private static ProxyState state(String bEndpoint, boolean withC) {
    HandRuleset.States s =
        new HandRuleset.States()
            .service("a", "172.30.0.1", "10.1.0.1", "10.1.0.11")
            .service("b", "172.30.0.2", 10800, bEndpoint, "10.1.0.12");
    if (withC) {
      s.service("c", "172.30.0.3", "10.1.0.3");
    }
    return s.build();
  }

  /** The whole desired table as one plain transaction of adds (what the oracle namespace gets). */
  private static String plainLoad(NftRuleset rs) {
    NftTransaction tx = NftTransaction.on(rs);
    tx.table(NftVerb.ADD, rs.comment());
    NftObjects all = rs.all();
    all.chains().forEach(c -> tx.chain(NftVerb.ADD, c.declaration()));
    all.sets().forEach(s -> tx.set(NftVerb.ADD, s));
    all.chains().forEach(c -> c.rules().forEach(tx::addRule));
    all.elements().forEach(e -> tx.element(NftVerb.ADD, e));
    return tx.text();
  }

  /** `nft list table` as a sorted list of lines: the contents, whatever order nft lists them. */
  private static List<String> listing(CommandRunner r) {
    return r.run("nft", "list", "table", "ip", "kube-proxy")
        .orThrow()
        .stdout()
        .lines()
        .map(String::strip)
        .filter(l -> !l.isEmpty())
        .sorted()
        .toList();
  }

  private List<String> oracleListing(ProxyState s) {
    oracle.run("nft", "delete", "table", "ip", "kube-proxy");
    oracle
        .run(List.of("nft", "-f", "-"), plainLoad(render.render(s)), CommandRunner.DEFAULT_TIMEOUT)
        .orThrow();
    return listing(oracle);
  }

  /** `nft -a list table` cut into blocks by chain or set name, each with its lines (handles). */
  private static Map<String, List<String>> blocks(CommandRunner r) {
    Map<String, List<String>> out = new LinkedHashMap<>();
    String current = null;
    for (String l :
        r.run("nft", "-a", "list", "table", "ip", "kube-proxy")
            .orThrow()
            .stdout()
            .lines()
            .toList()) {
      String s = l.strip();
      if (s.startsWith("chain ") || s.startsWith("set ") || s.startsWith("map ")) {
        current = s.split("\\s+")[1];
        out.put(current, new ArrayList<>());
      } else if (current != null && !s.equals("}") && !s.isEmpty()) {
        out.get(current).add(s);
      }
    }
    return out;
  }

  private NftablesProxier proxier(CommandRunner r, NftRender rd, int batchLines) {
    return new NftablesProxier(new NftKernel(r), rd, clock::get, batchLines);
  }

  @Test
  void fullSync_emptyTable_kernelHoldsTheDesiredTable() {
    ProxyState s = state("10.1.0.2", true);
    proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES).sync(s, true, Set.of());
    assertThat(listing(node))
        .isEqualTo(oracleListing(s))
        .contains("chain " + svcChain(spn("a")) + " {");
  }

  @Test
  void fullSync_inBatches_kernelHoldsTheDesiredTable() {
    ProxyState s = state("10.1.0.2", true);
    NftSyncResult r = proxier(node, render, 5).sync(s, true, Set.of());
    assertThat(r.transactions().size()).isGreaterThan(2);
    // Only the last transaction makes the services reachable: the batches hold no element.
    for (String batch : r.transactions().subList(0, r.transactions().size() - 1)) {
      assertThat(batch).doesNotContain("add element").doesNotContain("hook");
    }
    assertThat(listing(node)).isEqualTo(oracleListing(s));
  }

  @Test
  void fullSync_unchangedKernel_sendsOnlyTheTable() {
    ProxyState s = state("10.1.0.2", true);
    proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES).sync(s, true, Set.of());
    // A new proxier (a restart) knows nothing but what it reads from the kernel.
    NftSyncResult r =
        proxier(node, new HandRuleset(), NftablesProxier.DEFAULT_BATCH_LINES)
            .sync(s, true, Set.of());
    assertThat(r.transactions())
        .containsExactly("add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n");
  }

  @Test
  void fullSync_kernelChangedBehindOurBack_repairsOnlyThat() {
    ProxyState s = state("10.1.0.2", true);
    proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES).sync(s, true, Set.of());
    String svcA = svcChain(spn("a"));
    node.run("nft", "flush", "chain", "ip", "kube-proxy", svcA).orThrow();
    node.run("nft", "delete", "element", "ip", "kube-proxy", "cluster-ips", "{ 172.30.0.3 }")
        .orThrow();
    node.run("nft", "add", "element", "ip", "kube-proxy", "cluster-ips", "{ 172.30.0.99 }")
        .orThrow();
    node.run("nft", "add", "chain", "ip", "kube-proxy", "leftover").orThrow();
    node.run("nft", "add", "rule", "ip", "kube-proxy", "leftover", "drop").orThrow();

    NftSyncResult r =
        proxier(node, new HandRuleset(), NftablesProxier.DEFAULT_BATCH_LINES)
            .sync(s, true, Set.of());

    String tx = r.switchTransaction();
    assertThat(tx.lines().filter(l -> l.startsWith("flush chain")))
        .containsExactlyInAnyOrder(
            "flush chain ip kube-proxy " + svcA, "flush chain ip kube-proxy leftover");
    assertThat(tx.lines().filter(l -> l.contains("element")))
        .containsExactlyInAnyOrder(
            "delete element ip kube-proxy cluster-ips { 172.30.0.99 }",
            "add element ip kube-proxy cluster-ips { 172.30.0.3 }");
    assertThat(tx.lines().filter(l -> l.startsWith("add rule")))
        .allMatch(l -> l.startsWith("add rule ip kube-proxy " + svcA + " "))
        .hasSize(2);
    List<String> expected = new ArrayList<>(oracleListing(s));
    expected.add("chain leftover {");
    expected.add("}");
    assertThat(listing(node)).containsExactlyInAnyOrderElementsOf(expected);
  }

  @Test
  void partialSync_oneEndpoint_leavesEverythingElseUntouched() {
    NftablesProxier p = proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES);
    p.sync(state("10.1.0.2", true), true, Set.of());
    Map<String, List<String>> before = blocks(node);

    p.sync(state("10.1.0.9", true), false, Set.of("ns/b"));

    Map<String, List<String>> after = blocks(node);
    String svcB = svcChain(spn("b"));
    String oldEp = epChain(spn("b"), Endpoint.ready("10.1.0.2", 8080, "node1"));
    String newEp = epChain(spn("b"), Endpoint.ready("10.1.0.9", 8080, "node1"));
    for (Map.Entry<String, List<String>> e : before.entrySet()) {
      if (!Set.of(svcB, oldEp, oldEp.replaceFirst("^endpoint-", "affinity-"))
          .contains(e.getKey())) {
        // Same rules with the same handles: the chain was not rewritten; same elements.
        assertThat(after.get(e.getKey())).as(e.getKey()).isEqualTo(e.getValue());
      }
    }
    assertThat(after.get(oldEp)).isEmpty();
    assertThat(after).doesNotContainKey(oldEp.replaceFirst("^endpoint-", "affinity-"));
    assertThat(after.get(newEp)).anyMatch(l -> l.contains("dnat to 10.1.0.9:8080"));
    assertThat(after.get(svcB)).noneMatch(before.get(svcB)::contains);
    // Apart from the stale chain, the kernel holds what a plain load of the new state gives.
    List<String> expected = new ArrayList<>(oracleListing(state("10.1.0.9", true)));
    expected.add("chain " + oldEp + " {");
    expected.add("}");
    assertThat(listing(node)).containsExactlyInAnyOrderElementsOf(expected);
  }

  @Test
  void partialSync_refusedTransaction_keepsTheOldTableAndNextSyncIsFull() {
    AtomicBoolean broken = new AtomicBoolean();
    NftRender breaking =
        new NftRender() {
          @Override
          public NftRuleset render(ProxyState s) {
            return render.render(s);
          }

          @Override
          public NftObjects base(ProxyState s) {
            return render.base(s);
          }

          @Override
          public NftObjects servicePort(ProxyState s, ServicePortName spn) {
            NftObjects o = render.servicePort(s, spn);
            if (!broken.get()) {
              return o;
            }
            NftChain bad =
                NftChain.regular("bad", List.of(new NftRule("bad", "jump no-such-chain")));
            return o.plus(new NftObjects(List.of(bad), List.of(), List.of()));
          }
        };
    NftablesProxier p = proxier(node, breaking, NftablesProxier.DEFAULT_BATCH_LINES);
    p.sync(state("10.1.0.2", true), true, Set.of());
    List<String> before = listing(node);
    broken.set(true);

    assertThatThrownBy(() -> p.sync(state("10.1.0.9", true), false, Set.of("ns/b")))
        .isInstanceOf(SyncException.class)
        .hasMessageContaining("no-such-chain");
    assertThat(listing(node)).isEqualTo(before);

    broken.set(false);
    NftSyncResult r = p.sync(state("10.1.0.9", true), false, Set.of());
    assertThat(r.full()).isTrue();
    List<String> expected = new ArrayList<>(oracleListing(state("10.1.0.9", true)));
    String oldEp = epChain(spn("b"), Endpoint.ready("10.1.0.2", 8080, "node1"));
    expected.add("chain " + oldEp + " {");
    expected.add("}");
    assertThat(listing(node)).containsExactlyInAnyOrderElementsOf(expected);
  }

  @Test
  void partialSync_serviceRemoved_staleChainsDeletedASecondLater() {
    NftablesProxier p = proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES);
    p.sync(state("10.1.0.2", true), true, Set.of());
    String svcC = svcChain(spn("c"));

    p.sync(state("10.1.0.2", false), false, Set.of("ns/c"));
    String chains = node.run("nft", "list", "chains", "ip").orThrow().stdout();
    assertThat(chains).contains(svcC);
    assertThat(blocks(node).get(svcC)).isEmpty();

    clock.addAndGet(1_100_000_000L);
    p.sync(state("10.1.0.2", false), false, Set.of());

    assertThat(node.run("nft", "list", "chains", "ip").orThrow().stdout()).doesNotContain("/c/");
    assertThat(listing(node)).isEqualTo(oracleListing(state("10.1.0.2", false)));
  }

  @Test
  void partialSync_affinityDropped_deletesTheAffinitySets() {
    NftablesProxier p = proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES);
    p.sync(state("10.1.0.2", true), true, Set.of());
    ProxyState noAffinity =
        new HandRuleset.States()
            .service("a", "172.30.0.1", "10.1.0.1", "10.1.0.11")
            .service("b", "172.30.0.2", "10.1.0.2", "10.1.0.12")
            .service("c", "172.30.0.3", "10.1.0.3")
            .build();

    NftSyncResult r = p.sync(noAffinity, false, Set.of("ns/b"));

    assertThat(r.switchTransaction()).contains("delete set ip kube-proxy affinity-");
    assertThat(node.run("nft", "list", "sets", "ip").orThrow().stdout())
        .doesNotContain("affinity-");
    assertThat(listing(node)).isEqualTo(oracleListing(noAffinity));
  }

  @Test
  void removeTables_bothFamilies_deleted() {
    proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES)
        .sync(state("10.1.0.2", true), true, Set.of());
    node.run("nft", "add", "table", "ip6", "kube-proxy").orThrow();
    node.run("nft", "add", "table", "ip", "other").orThrow();

    assertThat(NftablesProxier.removeTables(new NftKernel(node))).isTrue();

    String tables = node.run("nft", "list", "tables").orThrow().stdout();
    assertThat(tables).doesNotContain("kube-proxy").contains("table ip other");
    assertThat(NftablesProxier.removeTables(new NftKernel(node))).isFalse();
    node.run("nft", "delete", "table", "ip", "other");
  }

  @Test
  void removeLeftoversOfOtherModes_iptablesAndIpvsState_removed() {
    // iptables mode's chains with their jump, and an IPVS-mode ipset (this kernel may lack the
    // dummy device kube-ipvs0 is; the set alone is a sign of IPVS mode).
    node.run("iptables", "-t", "nat", "-N", "KUBE-SERVICES").orThrow();
    node.run(
            "iptables",
            "-t",
            "nat",
            "-I",
            "PREROUTING",
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            "KUBE-SERVICES")
        .orThrow();
    node.run("iptables", "-t", "nat", "-N", "KUBE-SVC-XPGD46QRK7WJZT7O").orThrow();
    node.run("ipset", "create", "KUBE-CLUSTER-IP", "hash:ip,port").orThrow();

    NftablesProxier.removeLeftoversOfOtherModes(new IptablesKernel(node), new IpvsKernel(node));

    assertThat(node.run("iptables-save", "-t", "nat").orThrow().stdout()).doesNotContain("KUBE-");
    assertThat(node.run("ipset", "list", "-n").stdout()).doesNotContain("KUBE-CLUSTER-IP");
  }

  @Test
  void cleanup_table_deleted() {
    NftablesProxier p = proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES);
    p.sync(state("10.1.0.2", true), true, Set.of());
    p.cleanup();
    assertThat(node.run("nft", "list", "tables").orThrow().stdout()).doesNotContain("kube-proxy");
    // Lost track of the kernel: the next sync is full and rebuilds the table.
    assertThat(p.sync(state("10.1.0.2", true), false, Set.of()).full()).isTrue();
    assertThat(listing(node)).isEqualTo(oracleListing(state("10.1.0.2", true)));
  }

  @Test
  void missing_flushedBaseChain_reported() {
    NftablesProxier p = proxier(node, render, NftablesProxier.DEFAULT_BATCH_LINES);
    p.sync(state("10.1.0.2", true), true, Set.of());
    assertThat(p.missing()).isEmpty();
    node.run("nft", "flush", "chain", "ip", "kube-proxy", "nat-prerouting").orThrow();
    assertThat(p.missing()).containsExactly("rules of chain nat-prerouting");
    node.run("nft", "delete", "table", "ip", "kube-proxy").orThrow();
    assertThat(p.missing()).containsExactly("table ip kube-proxy");
  }

  @Test
  void missing_largeTable_readsDeclarationsOnly_stillFindsADeletedBaseChain() {
    // 250 services x 10 endpoints: more chains than RULE_CHECK_MAX_CHAINS.
    HandRuleset.States big = new HandRuleset.States();
    for (int i = 0; i < 250; i++) {
      String[] eps = new String[10];
      for (int j = 0; j < 10; j++) {
        eps[j] = "10.2." + i + "." + (j + 1);
      }
      big.service("s" + i, "172.30." + (1 + i / 250) + "." + (i % 250 + 1), eps);
    }
    RecordingCommandRunner rec =
        new RecordingCommandRunner(c -> node.run(c.argv(), c.stdin(), Duration.ofMinutes(2)));
    NftablesProxier p = proxier(rec, render, NftablesProxier.DEFAULT_BATCH_LINES);
    p.sync(big.build(), true, Set.of());
    int before = rec.calls().size();
    assertThat(p.missing()).isEmpty();
    // One listing of declarations; no chain's rules are fetched at this size.
    assertThat(rec.calls().subList(before, rec.calls().size()))
        .extracting(RecordingCommandRunner.Call::line)
        .containsExactly("nft -j list chains ip");
    node.run("nft", "flush", "chain", "ip", "kube-proxy", "nat-output").orThrow();
    node.run("nft", "delete", "chain", "ip", "kube-proxy", "nat-output").orThrow();
    assertThat(p.missing()).containsExactly("chain nat-output");
    node.run("nft", "delete", "table", "ip", "kube-proxy").orThrow();
    assertThat(p.missing()).containsExactly("table ip kube-proxy");
  }
}
