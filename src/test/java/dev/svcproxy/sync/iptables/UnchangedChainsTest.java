package dev.svcproxy.sync.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Ruleset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The restart's comparison of rendered chains with iptables-save text. The saved lines are what
 * iptables-nft-save v1.8.9 printed on this machine after restoring the rendered lines beside them.
 */
class UnchangedChainsTest {
  private static final String SVC = "KUBE-SVC-L4X2H2IFDLH6DQQH";

  /** Rendered lines (restore input) and the kernel's printing of each, pairwise. */
  private static final List<List<String>> PAIRS =
      List.of(
          List.of(
              "-A KUBE-SERVICES -m comment --comment \"bench/svc0:http cluster IP\" -m tcp -p tcp -d"
                  + " 10.96.0.1 --dport 80 -j KUBE-SVC-L4X2H2IFDLH6DQQH",
              "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment \"bench/svc0:http"
                  + " cluster IP\" -m tcp --dport 80 -j KUBE-SVC-L4X2H2IFDLH6DQQH"),
          List.of(
              "-A "
                  + SVC
                  + " -m comment --comment \"bench/svc0:http cluster IP\" -m tcp -p tcp -d"
                  + " 10.96.0.1 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
              "-A "
                  + SVC
                  + " ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment"
                  + " \"bench/svc0:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ"),
          List.of(
              "-A "
                  + SVC
                  + " -m comment --comment \"bench/svc0:http -> 10.100.0.1:8080\" -m"
                  + " statistic --mode random --probability 0.3333333333 -j"
                  + " KUBE-SEP-S6GVEWLXNUG3IPQ7",
              "-A "
                  + SVC
                  + " -m comment --comment \"bench/svc0:http -> 10.100.0.1:8080\" -m"
                  + " statistic --mode random --probability 0.33333333349 -j"
                  + " KUBE-SEP-S6GVEWLXNUG3IPQ7"),
          List.of(
              "-A "
                  + SVC
                  + " -m comment --comment \"bench/svc0:http -> 10.100.0.2:8080\" -m"
                  + " statistic --mode random --probability 0.5000000000 -j"
                  + " KUBE-SEP-N2AKQJ6FDIMF5AD5",
              "-A "
                  + SVC
                  + " -m comment --comment \"bench/svc0:http -> 10.100.0.2:8080\" -m"
                  + " statistic --mode random --probability 0.50000000000 -j"
                  + " KUBE-SEP-N2AKQJ6FDIMF5AD5"),
          List.of(
              "-A KUBE-SEP-S6GVEWLXNUG3IPQ7 -m comment --comment bench/svc0:http -s 10.100.0.1 -j"
                  + " KUBE-MARK-MASQ",
              "-A KUBE-SEP-S6GVEWLXNUG3IPQ7 -s 10.100.0.1/32 -m comment --comment"
                  + " \"bench/svc0:http\" -j KUBE-MARK-MASQ"),
          List.of(
              "-A KUBE-SEP-S6GVEWLXNUG3IPQ7 -m comment --comment bench/svc0:http -m tcp -p tcp -j"
                  + " DNAT --to-destination 10.100.0.1:8080",
              "-A KUBE-SEP-S6GVEWLXNUG3IPQ7 -p tcp -m comment --comment \"bench/svc0:http\" -m tcp"
                  + " -j DNAT --to-destination 10.100.0.1:8080"));

  @Test
  void normal_renderedRuleAndItsSavedPrinting_equal() {
    for (List<String> p : PAIRS) {
      String rendered = UnchangedChains.normal(IptablesCodec.parseRule(p.get(0)));
      assertThat(rendered).as(p.get(0)).isNotNull().isEqualTo(UnchangedChains.normal(p.get(1)));
      assertThat(UnchangedChains.normal(p.get(0))).isEqualTo(rendered);
    }
  }

  @Test
  void asSaved_renderedRules_printedAsTheKernelPrintsThem() {
    Map<String, String> probabilities = new java.util.HashMap<>();
    for (List<String> p : PAIRS) {
      assertThat(UnchangedChains.asSaved(IptablesCodec.parseRule(p.get(0)), probabilities))
          .isEqualTo(p.get(1));
    }
    // recent: the kernel adds its defaults and reorders; no exact prediction, no false one.
    assertThat(
            UnchangedChains.asSaved(
                IptablesCodec.parseRule(
                    "-A KUBE-SEP-AAA -m comment --comment ns/a:p -m recent --name KUBE-SEP-AAA"
                        + " --set -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80"),
                probabilities))
        .isNotEqualTo(
            "-A KUBE-SEP-AAA -p tcp -m comment --comment \"ns/a:p\" -m recent --set --name"
                + " KUBE-SEP-AAA --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination"
                + " 10.0.1.1:80");
  }

  @Test
  void normal_rulesThatDiffer_differ() {
    String masq = PAIRS.get(1).get(1);
    String stat = PAIRS.get(2).get(1);
    List<String> others =
        List.of(
            masq.replace("! -s", "-s"),
            masq.replace("--dport 80", "--dport 81"),
            masq.replace("-d 10.96.0.1/32", "-d 10.96.0.1/31"),
            masq.replace("-d 10.96.0.1/32", "-s 10.96.0.1/32")
                .replace("! -s 10.244", "! -d 10.244"),
            masq.replace("cluster IP", "cluster  IP"),
            masq.replace("-j KUBE-MARK-MASQ", "-g KUBE-MARK-MASQ"),
            masq.replace("-p tcp", "-p udp"));
    for (String o : others) {
      assertThat(UnchangedChains.normal(o)).as(o).isNotEqualTo(UnchangedChains.normal(masq));
    }
    // 0.3333333 and 0.33333333349 are different 32-bit probabilities in the kernel.
    assertThat(UnchangedChains.normal(stat.replace("0.33333333349", "0.3333333")))
        .isNotEqualTo(UnchangedChains.normal(stat));
  }

  private static Ruleset input(String... natLines) {
    return IptablesCodec.parseStrict(
        "*nat\n" + String.join("\n", natLines) + "\nCOMMIT\n", "test input");
  }

  @Test
  void dropSaved_chainsTheKernelHolds_droppedAndChangedOrMissingKept() {
    String sep = "KUBE-SEP-S6GVEWLXNUG3IPQ7";
    Ruleset in =
        input(
            ":KUBE-SERVICES - [0:0]",
            ":" + SVC + " - [0:0]",
            ":" + sep + " - [0:0]",
            ":KUBE-SEP-N2AKQJ6FDIMF5AD5 - [0:0]",
            PAIRS.get(0).get(0),
            PAIRS.get(1).get(0),
            PAIRS.get(2).get(0),
            PAIRS.get(4).get(0),
            PAIRS.get(5).get(0),
            "-A KUBE-SEP-N2AKQJ6FDIMF5AD5 -m comment --comment bench/svc0:http -s 10.100.0.2 -j"
                + " KUBE-MARK-MASQ");
    String saved =
        String.join(
            "\n",
            "# Generated by iptables-nft-save v1.8.9 (nf_tables) on Thu Nov 26 12:03:00 2026",
            "*nat",
            ":KUBE-SERVICES - [0:0]",
            ":" + SVC + " - [0:0]",
            ":" + sep + " - [0:0]",
            PAIRS.get(0).get(1),
            PAIRS.get(1).get(1),
            PAIRS.get(2).get(1),
            PAIRS.get(4).get(1),
            // The kernel's DNAT goes to another port: the chain differs.
            PAIRS.get(5).get(1).replace(":8080", ":8081"),
            "COMMIT",
            "");
    Map<String, List<String>> have = UnchangedChains.savedChains(saved);
    String out = UnchangedChains.dropSaved(in, have).print();
    // SVC and KUBE-SERVICES are the same; SEP differs; the other SEP is missing.
    assertThat(out)
        .doesNotContain(SVC + " -", "KUBE-SERVICES")
        .contains(":" + sep + " ", ":KUBE-SEP-N2AKQJ6FDIMF5AD5");
    // A rule someone else added to KUBE-SERVICES: the chain is rewritten.
    String foreign = saved.replace("COMMIT", "-A KUBE-SERVICES -j ACCEPT\nCOMMIT");
    assertThat(UnchangedChains.dropSaved(in, UnchangedChains.savedChains(foreign)).print())
        .contains(":KUBE-SERVICES - [0:0]", PAIRS.get(0).get(0))
        .doesNotContain(SVC + " -");
    // A SEP whose saved lines match only by meaning (recent's options reordered and defaults
    // added by the kernel) is still found equal.
    String aff = "KUBE-SEP-AAA";
    Ruleset affIn =
        input(
            ":" + aff + " - [0:0]",
            "-A "
                + aff
                + " -m comment --comment ns/a:p -m recent --name KUBE-SEP-AAA --set -m tcp"
                + " -p tcp -j DNAT --to-destination 10.0.1.1:80");
    String affSaved =
        "*nat\n:"
            + aff
            + " - [0:0]\n-A "
            + aff
            + " -p tcp -m comment --comment \"ns/a:p\" -m recent --set --name KUBE-SEP-AAA --mask"
            + " 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.0.1.1:80\nCOMMIT\n";
    assertThat(UnchangedChains.dropSaved(affIn, UnchangedChains.savedChains(affSaved)).print())
        .doesNotContain(aff);
    assertThat(
            UnchangedChains.dropSaved(
                    affIn, UnchangedChains.savedChains(affSaved.replace("--set", "--rcheck")))
                .print())
        .contains(":" + aff);
  }
}
