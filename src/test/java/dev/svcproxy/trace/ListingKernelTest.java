package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * `iptables -L -n -v` text read as a bundle gives the same rules and the same trace verdicts as the
 * `iptables-save` text of the same namespace: upstream's overall ruleset rendered by us, plus
 * Docker, flannel and Calico-style rules, loaded into a throw-away node by each backend.
 */
class ListingKernelTest {
  /** Rules of the other programs people run beside kube-proxy. */
  private static final String OTHERS =
      """
      *nat
      :DOCKER - [0:0]
      :FLANNEL-POSTRTG - [0:0]
      :cali-nat-outgoing - [0:0]
      -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
      -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
      -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
      -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
      -A POSTROUTING -m comment --comment "cali:nat" -j cali-nat-outgoing
      -A DOCKER -i docker0 -j RETURN
      -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
      -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
      -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
      -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
      -A cali-nat-outgoing -s 10.250.0.0/16 -m comment --comment "cali:x" -j MASQUERADE --random-fully
      COMMIT
      *filter
      :DOCKER-USER - [0:0]
      :FLANNEL-FWD - [0:0]
      :cali-FORWARD - [0:0]
      :cali-from-wl-dispatch - [0:0]
      -A FORWARD -j DOCKER-USER
      -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
      -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
      -A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD
      -A DOCKER-USER -j RETURN
      -A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
      -A cali-FORWARD -m comment --comment "cali:vjrMJCRpqwy5oRoX" -j MARK --set-xmark 0x0/0xe0000
      -A cali-FORWARD -i cali+ -m comment --comment "cali:A_sPAO0mcxbT9mOV" -g cali-from-wl-dispatch
      -A cali-FORWARD -m mark --mark 0x10000/0x10000 -m comment --comment "cali:x" -j ACCEPT
      -A cali-from-wl-dispatch -m comment --comment "cali:zTj6P0TIgYvgz-md" -j DROP
      COMMIT
      *raw
      :PREROUTING ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      -A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -j NOTRACK
      -A OUTPUT -s 169.254.20.10/32 -p tcp -m tcp --sport 53 -j CT --notrack
      COMMIT
      """;

  private static final List<String> TABLES = List.of("raw", "mangle", "nat", "filter");

  @ParameterizedTest
  @ValueSource(strings = {"nft", "legacy"})
  void listing_readsAsTheSaveOfTheSameNamespace_sameRulesAndVerdicts(String backend) {
    KernelTests.require("kernel tests");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      Lab.Node node = lab.node("node1");
      CommandRunner in = lab.runner().inNetns(node.netns());
      Ruleset rendered =
          JumpRules.onNode(
              OverallRulesTestAccess.renderer(
                      OverallRulesTestAccess.capabilities().withNfacct(false, false))
                  .render(States.fromYaml(States.resource("/golden/overall/input.yaml")))
                  .restoreInput());
      in.run(
              List.of("iptables-" + backend + "-restore", "--noflush"),
              rendered.print(),
              CommandRunner.DEFAULT_TIMEOUT)
          .orThrow();
      in.run(
              List.of("iptables-" + backend + "-restore", "--noflush"),
              OTHERS,
              CommandRunner.DEFAULT_TIMEOUT)
          .orThrow();
      String save = in.run("iptables-" + backend + "-save").orThrow().stdout();
      StringBuilder listing = new StringBuilder();
      for (String t : TABLES) {
        listing
            .append("[root@node1 ~]# iptables -t ")
            .append(t)
            .append(" -L -n -v --line-numbers\n");
        listing.append(
            in.run("iptables-" + backend, "-t", t, "-L", "-n", "-v", "--line-numbers")
                .orThrow()
                .stdout());
      }

      Map<String, String> files = new LinkedHashMap<>(BundleCapture.capture(in));
      files.remove("iptables-legacy-save.txt");
      files.put("iptables-save.txt", save);
      NodeState fromSave = BundleReader.fromFiles(files);
      files.put("iptables-save.txt", listing.toString());
      NodeState fromListing = BundleReader.fromFiles(files);

      assertThat(fromListing.warnings()).noneMatch(w -> w.startsWith("iptables-save.txt"));
      assertThat(shape(fromListing.iptables().get(0))).isEqualTo(shape(fromSave.iptables().get(0)));
      assertThat(shape(fromSave.iptables().get(0)).get("nat"))
          .anyMatch(r -> r.contains("KUBE-SVC-"))
          .anyMatch(r -> r.contains("--probability"));

      int compared = 0;
      for (PacketSpec p : packets(node)) {
        TraceResult a = new Tracer(fromSave).trace(p);
        TraceResult b = new Tracer(fromListing).trace(p);
        assertThat(verdicts(b)).as(p.toString()).isEqualTo(verdicts(a));
        compared += a.outcomes().size();
      }
      assertThat(compared).isGreaterThan(20);
    }
  }

  private static List<PacketSpec> packets(Lab.Node node) {
    List<PacketSpec> out = new ArrayList<>();
    for (int i = 41; i <= 49; i++) {
      out.add(new PacketSpec("10.244.1.5", 40000, "172.30.0." + i, 80, "tcp", null));
      out.add(new PacketSpec(null, 40000, "172.30.0." + i, 80, "tcp", null));
    }
    for (int port : new int[] {3001, 3002, 3003, 8080}) {
      out.add(new PacketSpec("192.168.77.200", 40000, node.ip(), port, "tcp", null));
    }
    for (String ip : List.of("192.168.99.22", "192.168.99.33", "1.2.3.4", "5.6.7.8")) {
      out.add(new PacketSpec("203.0.113.5", 40000, ip, 80, "tcp", null));
    }
    out.add(new PacketSpec("10.244.1.5", 40000, "169.254.20.10", 53, "udp", null));
    out.add(new PacketSpec("10.250.0.5", 40000, "8.8.8.8", 53, "udp", null));
    return out;
  }

  /** What each outcome is, in order: verdict, probability, DNAT, SNAT and where it goes. */
  private static List<String> verdicts(TraceResult r) {
    List<String> out = new ArrayList<>();
    for (Outcome o : r.outcomes()) {
      out.add(
          o.verdict()
              + " p="
              + o.probability()
              + " dnat="
              + o.dnat()
              + " snat="
              + o.snat()
              + " "
              + o.delivery());
    }
    return out;
  }

  private static Map<String, List<String>> shape(Ruleset rs) {
    Map<String, List<String>> out = new TreeMap<>();
    for (Table t : rs.tables()) {
      if (t.rules().isEmpty()
          && t.chainDecls().stream().allMatch(c -> c.policy().equals("ACCEPT"))) {
        // Listing a table the namespace never used creates it empty (iptables-nft): the same as
        // no table at all.
        continue;
      }
      List<String> l = new ArrayList<>();
      t.chainDecls().stream().map(c -> ":" + c.name() + " " + c.policy()).sorted().forEach(l::add);
      t.chains().forEach((chain, rules) -> rules.stream().map(Rule::print).forEach(l::add));
      out.put(t.name(), l);
    }
    return out;
  }
}
