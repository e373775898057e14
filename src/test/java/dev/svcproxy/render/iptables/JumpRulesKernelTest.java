package dev.svcproxy.render.iptables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.RuleCanon;
import dev.svcproxy.netfilter.TableRule;
import dev.svcproxy.testutil.KernelTests;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The jump rules checked, inserted and deleted one command at a time on the kernel. */
class JumpRulesKernelTest {
  private Lab lab;
  private CommandRunner node;

  @BeforeEach
  void setUp() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
  }

  @AfterEach
  void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private List<Rule> saved(TableRule j) {
    String out = node.run("iptables-save", "-t", j.table()).orThrow().stdout();
    return IptablesCodec.parseStrict(out, "iptables-save")
        .table(j.table())
        .orElseThrow()
        .rules(j.rule().chain());
  }

  @Test
  void ensureJump_twice_eachRuleOnceAsWrittenThenDeleted() {
    IptablesKernel kernel = new IptablesKernel(node);
    List<TableRule> all = new ArrayList<>(JumpRules.KUBE_PROXY);
    all.addAll(JumpRules.KUBELET);
    for (int round = 0; round < 2; round++) {
      all.forEach(kernel::ensureJump);
    }
    for (TableRule j : all) {
      assertThat(saved(j).stream().map(RuleCanon::key))
          .as(j.toString())
          .containsOnlyOnce(RuleCanon.key(j.rule()));
    }
    all.forEach(kernel::deleteJump);
    for (TableRule j : all) {
      assertThat(saved(j)).as(j.toString()).isEmpty();
    }
  }
}
