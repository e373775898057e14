package dev.svcproxy.trace.bundle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The iptables text people paste. The listings under dumps/listing/ were taken from one network
 * namespace with iptables 1.8.9 (both backends): `iptables-save`, `iptables -t T -L -n -v
 * --line-numbers` for nat, filter, mangle and raw (after a prompt naming the table), the same
 * without -v (no prompt), and `iptables -S`. The save text of the same namespace is the oracle.
 */
class IptablesTextTest {

  private static String resource(String name) {
    try (InputStream in = IptablesTextTest.class.getResourceAsStream("/dumps/listing/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Reads as the bundle does: prompts taken out first. */
  private static IptablesText.Result read(String text) {
    Map<Integer, String> cmds = new java.util.HashMap<>();
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String c = Prompts.command(lines[i]);
      if (c != null) {
        cmds.put(i + 1, c);
        lines[i] = "";
      }
    }
    return IptablesText.read(String.join("\n", lines), "iptables-save.txt", cmds, null);
  }

  /** table → chain → rules as "-A ..." text, plus ":CHAIN POLICY" for every declared chain. */
  private static Map<String, List<String>> shape(Ruleset rs, boolean withPolicies) {
    Map<String, List<String>> out = new TreeMap<>();
    for (Table t : rs.tables()) {
      List<String> l = new ArrayList<>();
      if (withPolicies) {
        t.chainDecls().stream()
            .map(c -> ":" + c.name() + " " + c.policy())
            .sorted()
            .forEach(l::add);
      }
      t.chains().forEach((chain, rules) -> rules.forEach(r -> l.add(r.print())));
      out.put(t.name(), l);
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"nft", "legacy"})
  void read_verboseListingWithLineNumbers_isTheSaveTextOfTheSameNamespace(String backend) {
    Ruleset save = IptablesCodec.parseStrict(resource(backend + "-save.txt"), "save");
    IptablesText.Result listed = read(resource(backend + "-L-v.txt"));

    assertThat(shape(listed.ruleset(), true)).isEqualTo(shape(save, true));
    assertThat(listed.warnings()).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"nft", "legacy"})
  void read_listingWithoutTableOrCounters_infersTablesFromBuiltinChains(String backend) {
    Ruleset save = IptablesCodec.parseStrict(resource(backend + "-save.txt"), "save");
    IptablesText.Result listed = read(resource(backend + "-L.txt"));

    assertThat(listed.ruleset().tables())
        .extracting(Table::name)
        .containsExactlyInAnyOrder("nat", "filter", "mangle", "raw");
    // Without -v there are no in/out columns: every rule but those with -i/-o reads the same, and
    // the loss is reported.
    Map<String, List<String>> want = shape(save, true);
    want.replaceAll(
        (t, rules) ->
            rules.stream().filter(r -> !r.contains(" -i ") && !r.contains(" -o ")).toList());
    Map<String, List<String>> got = shape(listed.ruleset(), true);
    got.forEach((t, rules) -> assertThat(rules).as(t).containsAll(want.get(t)));
    assertThat(listed.warnings())
        .anyMatch(w -> w.contains("read as nat"))
        .anyMatch(w -> w.contains("read as mangle"))
        .anyMatch(w -> w.contains("without -v"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"nft", "legacy"})
  void read_iptablesS_isTheFilterTableOfTheSave(String backend) {
    Ruleset save = IptablesCodec.parseStrict(resource(backend + "-save.txt"), "save");
    IptablesText.Result s = read(resource(backend + "-S-filter.txt"));

    assertThat(s.ruleset().tables()).extracting(Table::name).containsExactly("filter");
    assertThat(shape(s.ruleset(), true).get("filter")).isEqualTo(shape(save, true).get("filter"));
    assertThat(
            s.ruleset().table("filter").orElseThrow().chainDecl("FORWARD").orElseThrow().policy())
        .isEqualTo("ACCEPT");
  }

  @Test
  void read_listingCountersWithUnits_expandsThemAsIptablesPrintsThem() {
    String text =
        """
        Chain PREROUTING (policy ACCEPT 12M packets, 3456M bytes)
         pkts bytes target     prot opt in     out     source               destination
          12K  720K KUBE-SERVICES  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes service portals */
        Chain KUBE-SERVICES (1 references)
         pkts bytes target     prot opt in     out     source               destination
          100  6000 KUBE-SVC-X  tcp  --  *      *       0.0.0.0/0            10.96.0.10           /* default/web:http cluster IP */ tcp dpt:80
            0     0 KUBE-MARK-MASQ  all  --  *      *      !10.244.0.0/16        10.96.0.10
        """;
    IptablesText.Result r = read(text);

    Table nat = r.ruleset().table("nat").orElseThrow();
    assertThat(nat.chainDecl("PREROUTING").orElseThrow().counters())
        .isEqualTo("[12000000:3456000000]");
    List<Rule> pre = nat.rules("PREROUTING");
    assertThat(pre.get(0).counters()).isEqualTo("[12000:720000]");
    assertThat(nat.rules("KUBE-SERVICES"))
        .extracting(Rule::print)
        .containsExactly(
            "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web:http"
                + " cluster IP\" -m tcp --dport 80 -j KUBE-SVC-X",
            "-A KUBE-SERVICES ! -s 10.244.0.0/16 -d 10.96.0.10/32 -j KUBE-MARK-MASQ");
  }

  @Test
  void read_listingTextNotUnderstood_isAWarningAndTheRuleIsNotEvaluated() {
    String text =
        """
        Chain KUBE-SERVICES (1 references)
        target     prot opt source               destination
        ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0            frobnicate 42
        """;
    IptablesText.Result r = read(text);

    assertThat(r.warnings())
        .anyMatch(w -> w.startsWith("iptables-save.txt:3: ") && w.contains("frobnicate 42"));
    Rule rule = r.ruleset().tables().get(0).rules("KUBE-SERVICES").get(0);
    assertThat(rule.modules().get(0)).isEqualTo("unreadable");
  }

  @Test
  void read_grepFragmentWithoutHeaders_infersEachRulesTableAndSaysSo() {
    // `iptables-save | grep KUBE` of a node: nat and filter lines mixed, no *table, no COMMIT.
    String text =
        """
        [root@node1 ~]# iptables-save | grep KUBE
        :KUBE-SERVICES - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A INPUT -j KUBE-FIREWALL
        -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
        -A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP
        -A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http health check node port" -m tcp --dport 30001 -j ACCEPT
        -A KUBE-SERVICES -d 10.96.0.5/32 -p tcp -m comment --comment "default/empty has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
        -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-X
        -A KUBE-SVC-X -j KUBE-SEP-Y
        -A KUBE-SEP-Y -s 10.244.1.2/32 -j KUBE-MARK-MASQ
        -A KUBE-SEP-Y -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
        -A PREROUTING -i eth0 -j MARK --set-xmark 0x10/0xffffffff
        """;
    IptablesText.Result r = read(text);

    // Hand reasoning: nat holds the service chains, DNAT and MASQUERADE; filter holds the
    // firewall, forward, REJECT and health-check ACCEPT rules; a MARK in built-in PREROUTING is
    // mangle's (nat's KUBE-MARK-MASQ is a user chain).
    Map<String, List<String>> s = shape(r.ruleset(), false);
    assertThat(s.get("nat"))
        .contains(
            "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "-A KUBE-SVC-X -j KUBE-SEP-Y",
            "-A KUBE-SEP-Y -s 10.244.1.2/32 -j KUBE-MARK-MASQ",
            "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
            "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")
        .hasSize(7);
    assertThat(s.get("filter"))
        .contains(
            "-A INPUT -j KUBE-FIREWALL",
            "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
            "-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP")
        .anyMatch(l -> l.contains("--reject-with"))
        .anyMatch(l -> l.contains("health check node port"))
        .hasSize(6);
    assertThat(s.get("mangle"))
        .containsExactly("-A PREROUTING -i eth0 -j MARK --set-xmark 0x10/0xffffffff");
    assertThat(r.warnings())
        .allMatch(w -> w.matches("iptables-save\\.txt:\\d+: no table named: .*"))
        .anyMatch(
            w ->
                w.startsWith("iptables-save.txt:9: ")
                    && w.contains("KUBE-SERVICES read as table filter"))
        .anyMatch(
            w ->
                w.startsWith("iptables-save.txt:10: ")
                    && w.contains("KUBE-SERVICES read as table nat"));
  }

  @Test
  void read_badValues_warnWithFileAndLine_andTheRuleStaysButIsNeverTaken() {
    String text =
        """
        *filter
        :INPUT ACCEPT [0:0]
        -A INPUT -p tcp -m tcp --dport abc -j DROP
        -A INPUT -m mark --mark 0xZZ -j DROP
        -A INPUT -s 10.0.0.0/33 -j DROP
        -A INPUT -m multiport --dports 80,99999 -j DROP
        -A INPUT -m statistic --mode random --probability 1.5 -j DROP
        -A INPUT -m statistic --mode nth --every x --packet 0 -j DROP
        -A INPUT -m conntrack --ctstate NEWISH -j DROP
        -A INPUT -m addrtype --dst-type LOKAL -j DROP
        -A INPUT -p tcp -j DNAT --to-destination 10.0.0.300:80
        -A INPUT -j MARK --set-xmark 0x4000/0xZZ
        -A INPUT -m set --match-set KUBE-X dst,dest -j DROP
        -A INPUT -p tcp -m tcp --dport 1:65535 -j ACCEPT
        COMMIT
        """;
    IptablesText.Result r = read(text);

    for (int line = 3; line <= 13; line++) {
      int l = line;
      assertThat(r.warnings())
          .as("line " + l)
          .anyMatch(w -> w.startsWith("iptables-save.txt:" + l + ": "));
    }
    assertThat(r.warnings()).noneMatch(w -> w.startsWith("iptables-save.txt:14:"));
    assertThat(r.warnings()).anyMatch(w -> w.contains("--dport abc") && w.contains("not a port"));
    List<Rule> rules = r.ruleset().table("filter").orElseThrow().rules("INPUT");
    assertThat(rules).hasSize(12);
    for (int i = 0; i < 11; i++) {
      assertThat(rules.get(i).modules().get(0)).as(rules.get(i).print()).isEqualTo("unreadable");
    }
    assertThat(rules.get(11).modules()).containsExactly("tcp");
    // The bad element is gone, so nothing evaluates it.
    assertThat(rules.get(2).param("-s")).isEmpty();
  }

  @Test
  void read_setNotInIpsetSave_isAWarningWithFileAndLine() {
    IptablesText.Result r =
        IptablesText.read(
            "*nat\n-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\nCOMMIT\n",
            "iptables-save.txt",
            Map.of(),
            java.util.Set.of("KUBE-LOAD-BALANCER"));
    assertThat(r.warnings())
        .containsExactly(
            "iptables-save.txt:2: set KUBE-CLUSTER-IP is not in ipset-save.txt (chain KUBE-SERVICES)");
  }

  @Test
  void read_unknownTableName_isAWarning() {
    IptablesText.Result r = read("*nta\n-A PREROUTING -j ACCEPT\nCOMMIT\n");
    assertThat(r.warnings())
        .containsExactly(
            "iptables-save.txt:1: unknown table nta (filter, nat, mangle, raw, security): not traced");
  }

  @Test
  void read_truncatedTable_warnsAndKeepsItsRules() {
    IptablesText.Result r =
        read("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-SERVICES\n");
    assertThat(r.warnings()).anyMatch(w -> w.contains("no COMMIT"));
    assertThat(r.ruleset().table("nat").orElseThrow().rules()).hasSize(1);
  }

  @Test
  void command_shellPromptsOfEveryCommonForm_areRecognised_iptablesCommentsAreNot() {
    assertThat(Prompts.command("[root@h ~]# iptables -t nat -L -n"))
        .isEqualTo("iptables -t nat -L -n");
    assertThat(Prompts.command("user@h:~$ sudo iptables-save")).isEqualTo("sudo iptables-save");
    assertThat(Prompts.command("root@node1:/# iptables -S")).isEqualTo("iptables -S");
    assertThat(Prompts.command("# iptables-save")).isEqualTo("iptables-save");
    assertThat(Prompts.command("$ ip -j addr")).isEqualTo("ip -j addr");
    assertThat(Prompts.command("# ")).isEqualTo("");
    assertThat(Prompts.command("$ ")).isEqualTo("");
    assertThat(Prompts.command("bash-5.1# conntrack -L")).isEqualTo("conntrack -L");
    assertThat(Prompts.command("# Generated by iptables-save v1.8.7 on Tue Mar  5 10:11:12 2024"))
        .isNull();
    assertThat(Prompts.command("# Completed on Tue Mar  5 10:11:12 2024")).isNull();
    assertThat(
            Prompts.command(
                "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them"))
        .isNull();
    assertThat(Prompts.command("-A INPUT -j ACCEPT")).isNull();
    assertThat(Prompts.command("3: veth12ab@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450"))
        .isNull();
  }

  @Test
  void tableOf_commandsNameTheirTable() {
    assertThat(IptablesText.tableOf("iptables -t nat -L -n -v")).isEqualTo("nat");
    assertThat(IptablesText.tableOf("sudo iptables-legacy -tmangle -S")).isEqualTo("mangle");
    assertThat(IptablesText.tableOf("iptables -L -n")).isEqualTo("filter");
    assertThat(IptablesText.tableOf("iptables-save | grep KUBE")).isNull();
    assertThat(IptablesText.tableOf("ip -j addr")).isNull();
  }

  @Test
  void read_saveWithPromptsAndComments_hasNoWarnings() {
    String text =
        """
        [root@node1 ~]# iptables-save -t nat
        # Generated by iptables-save v1.8.7 on Tue Mar  5 10:11:12 2024
        *nat
        :PREROUTING ACCEPT [0:0]
        # Warning: something the user pasted too
        -A PREROUTING -j DOCKER
        COMMIT
        # Completed on Tue Mar  5 10:11:12 2024
        [root@node1 ~]#
        """;
    IptablesText.Result r = read(text);
    assertThat(r.warnings()).isEmpty();
    Table nat = r.ruleset().table("nat").orElseThrow();
    assertThat(nat.before()).anyMatch(l -> l.startsWith("# Generated by"));
    assertThat(nat.lines()).filteredOn(l -> l instanceof Line.RuleLine).hasSize(1);
  }

  /**
   * The bundle's checks are TypedRule's, so they agree with iptables 1.8.9 (checked in a
   * namespace): "--mode random" without --probability is refused ("--probability must be specified
   * when using random mode"), so is "--dports 80:80" ("invalid portrange specified"); lower-case
   * TCP flags are accepted (libxt_tcp compares them with strcasecmp; iptables-save prints them
   * upper).
   */
  @Test
  void read_valuesCheckedAsTypedRuleReadsThem_warnOnlyWhereIptablesRefuses() {
    String text =
        """
        *filter
        :INPUT ACCEPT [0:0]
        -A INPUT -m statistic --mode random -j DROP
        -A INPUT -p tcp -m multiport --dports 80:80 -j DROP
        -A INPUT -p tcp -m tcp --tcp-flags syn,ack syn -j DROP
        COMMIT
        """;
    IptablesText.Result r = read(text);
    assertThat(r.warnings())
        .anyMatch(
            w ->
                w.startsWith("iptables-save.txt:3: ")
                    && w.contains("--probability must be specified")
                    && w.contains("-m statistic --mode random"));
    assertThat(r.warnings())
        .anyMatch(w -> w.startsWith("iptables-save.txt:4: ") && w.contains("portrange"));
    assertThat(r.warnings()).noneMatch(w -> w.startsWith("iptables-save.txt:5:"));
    List<Rule> rules = r.ruleset().table("filter").orElseThrow().rules("INPUT");
    assertThat(rules.get(0).modules().get(0)).isEqualTo("unreadable");
    assertThat(rules.get(1).modules().get(0)).isEqualTo("unreadable");
    assertThat(rules.get(2).modules()).containsExactly("tcp");
  }
}
