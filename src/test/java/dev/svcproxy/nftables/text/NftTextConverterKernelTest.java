package dev.svcproxy.nftables.text;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.testutil.KernelTests;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kernel is the oracle: our JSON of nft's text equals what nft -j prints for the same ruleset.
 */
class NftTextConverterKernelTest {
  private static NftKernel kernel;

  @BeforeAll
  static void setUp() {
    KernelTests.require("nft text conversion against the kernel");
    kernel = new NftKernel();
  }

  @AfterAll
  static void tearDown() {
    if (kernel != null) {
      kernel.close();
    }
  }

  static String resource(String name) {
    try (InputStream in =
        NftTextConverterKernelTest.class.getResourceAsStream("/nftables/text/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Loads {@code text}, then checks the listing's conversion and (if asked) the input's. */
  private static void check(String name, String text, boolean alsoInput) {
    kernel.load(text);
    JsonNode truth = kernel.listJson();
    String listing = kernel.listText();
    assertThat(NftKernel.entries(NftTextConverter.toJson(name, listing), false, false))
        .as("conversion of nft list ruleset\n" + listing)
        .containsExactlyElementsOf(NftKernel.entries(truth, false, false));
    String annotated = kernel.listText("-a");
    assertThat(NftKernel.entries(NftTextConverter.toJson(name, annotated), true, false))
        .as("conversion of nft -a list ruleset\n" + annotated)
        .containsExactlyElementsOf(NftKernel.entries(truth, true, false));
    if (alsoInput) {
      assertThat(NftKernel.entries(NftTextConverter.toJson(name, text), false, true))
          .as("conversion of the input " + name)
          .containsExactlyElementsOf(NftKernel.entries(truth, false, true));
    }
  }

  @Test
  void toJson_upstreamOverallDump_equalsKernelJson() {
    check("upstream-overall.nft", resource("upstream-overall.nft"), true);
  }

  @Test
  void toJson_firewalldLikeInetTable_equalsKernelJson() {
    check("firewalld.nft", resource("firewalld.nft"), true);
  }

  @Test
  void toJson_dockerLikeTables_equalsKernelJson() {
    check("docker.nft", resource("docker.nft"), true);
  }

  @Test
  void toJson_handWrittenConstructs_equalsKernelJson() {
    check("constructs.nft", resource("constructs.nft"), true);
  }

  @Test
  void toJson_seededGeneratedTransactions_equalKernelJson() {
    for (long seed = 1; seed <= 120; seed++) {
      String tx = RulesetGenerator.transaction(seed);
      check("generated seed " + seed, tx, true);
    }
  }

  @Test
  void toJson_pastedListingWithPromptsWarningsAndCounters_equalsKernelJson() {
    kernel.load(resource("docker.nft"));
    JsonNode truth = kernel.listJson();
    String pasted =
        "[root@node1 ~]# nft list ruleset\n"
            + "# Warning: table ip filter is managed by iptables-nft, do not touch!\n"
            + kernel.listText()
            + "root@node1:~# \n";
    assertThat(NftKernel.entries(NftTextConverter.toJson("nft-ruleset.txt", pasted), false, false))
        .containsExactlyElementsOf(NftKernel.entries(truth, false, false));
  }

  @Test
  void toJson_transactionWithInsertFlushAndDelete_equalsKernelJson() {
    String tx =
        String.join(
            "\n",
            "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }",
            "add table inet other",
            "add chain inet other c",
            "add set ip kube-proxy cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }",
            "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }",
            "add map ip kube-proxy gone { type ipv4_addr : verdict ; }",
            "add chain ip kube-proxy services",
            "add chain ip kube-proxy stale",
            "add chain ip kube-proxy service-A-ns/svc/tcp/p80",
            "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
            "insert rule ip kube-proxy services ip daddr 10.0.0.1 drop",
            "add rule ip kube-proxy stale drop",
            "add rule ip kube-proxy service-A-ns/svc/tcp/p80 ip saddr 10.0.0.0/8 accept",
            "add element ip kube-proxy cluster-ips { 172.30.0.41 }",
            "add element ip kube-proxy cluster-ips { 172.30.0.42, 172.30.0.43 }",
            "delete element ip kube-proxy cluster-ips { 172.30.0.42 }",
            "add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-A-ns/svc/tcp/p80 }",
            "add element ip kube-proxy service-ips { 172.30.0.43 . udp . 53 comment \"ns/dns:dns\" : goto service-A-ns/svc/tcp/p80 }",
            "flush chain ip kube-proxy stale",
            "delete chain ip kube-proxy stale",
            "delete map ip kube-proxy gone",
            "flush chain ip kube-proxy service-A-ns/svc/tcp/p80",
            "add rule ip kube-proxy service-A-ns/svc/tcp/p80 meta l4proto tcp dnat to 10.180.0.1:80",
            "add rule inet other c accept",
            "flush table inet other",
            "add rule inet other c drop; add rule inet other c ip saddr 1.2.3.4 counter",
            "");
    kernel.load(tx);
    assertThat(NftKernel.entries(NftTextConverter.toJson("tx", tx), false, true))
        .containsExactlyElementsOf(NftKernel.entries(kernel.listJson(), false, true));
  }

  @Test
  void toJson_ruleWithStatementNotUnderstood_keepsRuleAndKnownPrefix() {
    String text =
        "table ip t {\n\tchain c {\n\t\tip saddr 10.0.0.1 meta mark set jhash ip saddr mod 2 accept"
            + " comment \"hashed\"\n\t\tip saddr 10.0.0.2 accept\n\t}\n}\n";
    kernel.load(text);
    JsonNode truth = kernel.listJson();
    JsonNode ours = NftTextConverter.toJson("t", kernel.listText());
    JsonNode rule = ours.get("nftables").get(3).get("rule");
    JsonNode kernelRule = truth.get("nftables").get(3).get("rule");
    assertThat(rule.get("comment").asText()).isEqualTo("hashed");
    assertThat(rule.get("expr").get(0)).isEqualTo(kernelRule.get("expr").get(0));
    assertThat(rule.get("expr").get(1).get("svcproxy-unparsed").asText())
        .isEqualTo("meta mark set jhash ip saddr mod 2 accept");
    assertThat(NftKernel.entries(ours, false, false).get(3))
        .isEqualTo(NftKernel.entries(truth, false, false).get(3));
  }

  @Test
  void toJson_iptablesNftTables_keepsEveryRule() {
    kernel.load("");
    kernel.iptables(
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        "10.244.0.0/16",
        "!",
        "-o",
        "cni0",
        "-j",
        "MASQUERADE");
    kernel.iptables(
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        "22",
        "-m",
        "comment",
        "--comment",
        "ssh",
        "-j",
        "ACCEPT");
    kernel.iptables("-A", "FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP");
    String listing = kernel.listText();
    JsonNode truth = kernel.listJson();
    JsonNode ours = NftTextConverter.toJson("nft-ruleset.txt", listing);
    assertThat(rules(ours)).as(listing).isEqualTo(rules(truth)).isEqualTo(3);
    assertThat(chains(ours)).isEqualTo(chains(truth));
  }

  private static long rules(JsonNode root) {
    long n = 0;
    for (JsonNode e : root.get("nftables")) {
      n += e.has("rule") ? 1 : 0;
    }
    return n;
  }

  private static java.util.List<String> chains(JsonNode root) {
    java.util.List<String> out = new java.util.ArrayList<>();
    for (JsonNode e : root.get("nftables")) {
      if (e.has("chain")) {
        out.add(NftKernel.canonical(e.get("chain"), false).replaceAll(",?\"handle\":\\d+", ""));
      }
    }
    return out;
  }

  @Test
  void toJson_listTableOfOneTable_equalsThatTablesEntries() {
    kernel.load(resource("upstream-overall.nft") + resource("docker.nft"));
    JsonNode truth = kernel.listJson();
    String one = kernel.listText("-a", "list", "table", "ip", "kube-proxy");
    java.util.List<String> expected =
        NftKernel.entries(truth, true, false).stream()
            .filter(e -> e.contains("\"family\":\"ip\"") && e.contains("kube-proxy"))
            .toList();
    assertThat(NftKernel.entries(NftTextConverter.toJson("one", one), true, false))
        .containsExactlyElementsOf(expected);
  }

  @Test
  void toJson_transactionPrintedByNftTransaction_equalsKernelJson() {
    dev.svcproxy.nftables.NftTransaction tx =
        new dev.svcproxy.nftables.NftTransaction("ip", "kube-proxy");
    var add = dev.svcproxy.nftables.NftVerb.ADD;
    tx.table(add, "rules for kube-proxy");
    tx.set(
        add,
        dev.svcproxy.nftables.NftSet.of("cluster-ips", false, "ipv4_addr", "Active ClusterIPs"));
    tx.set(
        add,
        dev.svcproxy.nftables.NftSet.of(
            "service-ips",
            true,
            "ipv4_addr . inet_proto . inet_service : verdict",
            "ClusterIP traffic"));
    tx.set(
        add,
        new dev.svcproxy.nftables.NftSet(
            "affinity-X",
            false,
            "ipv4_addr",
            java.util.List.of("dynamic", "timeout"),
            "10800s",
            ""));
    tx.chain(
        add,
        new dev.svcproxy.nftables.NftChain(
            "nat-prerouting",
            java.util.Optional.of(new dev.svcproxy.nftables.BaseChain("nat", "prerouting", "-100")),
            "",
            java.util.List.of()));
    tx.chain(add, dev.svcproxy.nftables.NftChain.regular("services", java.util.List.of()));
    tx.chain(
        add,
        new dev.svcproxy.nftables.NftChain(
            "reject-chain", java.util.Optional.empty(), "helper", java.util.List.of()));
    tx.chain(add, dev.svcproxy.nftables.NftChain.regular("endpoint-X", java.util.List.of()));
    tx.addRule(new dev.svcproxy.nftables.NftRule("nat-prerouting", "jump services", ""));
    tx.addRule(
        new dev.svcproxy.nftables.NftRule(
            "services", "ip daddr . meta l4proto . th dport vmap @service-ips", ""));
    tx.addRule(new dev.svcproxy.nftables.NftRule("reject-chain", "reject", "no endpoints"));
    tx.addRule(
        new dev.svcproxy.nftables.NftRule("endpoint-X", "update @affinity-X { ip saddr }", ""));
    tx.addRule(
        new dev.svcproxy.nftables.NftRule(
            "endpoint-X", "meta l4proto tcp dnat to 10.180.0.1:80", ""));
    tx.element(add, dev.svcproxy.nftables.NftElement.of("cluster-ips", "172.30.0.41"));
    tx.element(
        add,
        new dev.svcproxy.nftables.NftElement(
            "service-ips",
            java.util.List.of("172.30.0.41", "tcp", "80"),
            java.util.List.of("goto endpoint-X"),
            "ns1/svc1:p80"));
    tx.element(
        dev.svcproxy.nftables.NftVerb.DELETE,
        dev.svcproxy.nftables.NftElement.of("cluster-ips", "172.30.0.41"));
    kernel.load(tx.text());
    assertThat(NftKernel.entries(NftTextConverter.toJson("render", tx.text()), false, true))
        .as(tx.text())
        .containsExactlyElementsOf(NftKernel.entries(kernel.listJson(), false, true));
  }
}
