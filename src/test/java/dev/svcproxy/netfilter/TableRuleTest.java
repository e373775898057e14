package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TableRuleTest {
  @Test
  void argv_generatedRules_whatIptablesRestoreMakesOfThePrintedLine() {
    // RestoreArgv tokenises as iptables-restore 1.8.9 was seen to: -C/-I/-D must see the same.
    RuleGenerator gen = new RuleGenerator(11);
    for (int i = 0; i < 300; i++) {
      Rule r = gen.next();
      List<String> want = new ArrayList<>(List.of("-t", "nat"));
      want.addAll(RestoreArgv.of(r.print()));
      want.set(2, "-I");
      assertThat(new TableRule("nat", r).argv("-I")).as(r.print()).isEqualTo(want);
    }
  }

  @Test
  void argv_upstreamJump_argvAsKubeProxyPassesIt() {
    // proxier.go: iptables -C/-I/-D with the args "-m comment --comment <c>" then "-j <chain>".
    Rule r =
        IptablesCodec.parseRule(
            "-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES");
    assertThat(new TableRule("filter", r).argv("-C"))
        .containsExactly(
            "-t",
            "filter",
            "-C",
            "INPUT",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes externally-visible service portals",
            "-j",
            "KUBE-EXTERNAL-SERVICES");
  }
}
