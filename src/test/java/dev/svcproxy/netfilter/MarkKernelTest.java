package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.netfilter.target.Target;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kernel is the oracle for mark semantics: iptables itself turns every MARK/CONNMARK spelling
 * into what iptables-save prints, and a packet's counter shows which mark xt_MARK really left.
 */
class MarkKernelTest {
  private static Lab lab;
  private static CommandRunner node;

  @BeforeAll
  static void setUp() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
    node.run("ip", "link", "set", "lo", "up");
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static void restore(String text) {
    CommandResult r =
        node.run(List.of("iptables-restore", "--noflush"), text, Duration.ofSeconds(30));
    assertThat(r.ok()).as(r.stderr() + "\n" + text).isTrue();
  }

  private static List<Rule> saved(String table, String chain) {
    String out = node.run("iptables-save", "-c", "-t", table).orThrow().stdout();
    return IptablesCodec.parseStrict(out, "iptables-save").table(table).orElseThrow().rules(chain);
  }

  @Test
  void parse_everyMarkSpelling_sameTargetAsIptablesSavesIt() {
    List<String> written =
        List.of(
            "-A H7-SPELL -j MARK --set-mark 0x5/0xf0",
            "-A H7-SPELL -j MARK --set-mark 0x5",
            "-A H7-SPELL -j MARK --or-mark 0x4000",
            "-A H7-SPELL -j MARK --and-mark 0xffffbfff",
            "-A H7-SPELL -j MARK --xor-mark 0x4000",
            "-A H7-SPELL -j MARK --set-xmark 0x3",
            "-A H7-SPELL -j CONNMARK --set-mark 0x3/0xc",
            "-A H7-SPELL -j CONNMARK --or-mark 0x8",
            "-A H7-SPELL -j CONNMARK --save-mark --mask 0xff",
            "-A H7-SPELL -j CONNMARK --restore-mark --ctmask 0xf0");
    restore("*mangle\n:H7-SPELL - [0:0]\n" + String.join("\n", written) + "\nCOMMIT\n");
    List<Rule> saved = saved("mangle", "H7-SPELL");
    assertThat(saved).hasSameSizeAs(written);
    for (int i = 0; i < written.size(); i++) {
      Target ours = TypedRule.parse(IptablesCodec.parseRule(written.get(i))).target();
      assertThat(TypedRule.parse(saved.get(i)).target())
          .as(written.get(i) + " saved as " + saved.get(i).print())
          .isEqualTo(ours);
      assertThat(RuleCanon.key(saved.get(i)))
          .isEqualTo(RuleCanon.key(IptablesCodec.parseRule(written.get(i))));
    }
  }

  @Test
  void apply_xmarkOnAPacket_markMatchSeesTheValueWeCompute() {
    String start = "-j MARK --set-xmark 0xabcd1234/0xffffffff";
    String op = "-j MARK --set-xmark 0xff00f0/0xf0f0f0f";
    long expected =
        ((Target.Mark) TypedRule.parse(IptablesCodec.parseRule("-A X " + op)).target())
            .apply(0xabcd1234L);
    String m = "-p udp -d 127.0.0.1 --dport 9777";
    restore(
        "*mangle\n"
            + "-A OUTPUT "
            + m
            + " "
            + start
            + "\n-A OUTPUT "
            + m
            + " "
            + op
            + "\n-A OUTPUT "
            + m
            + " -m mark --mark 0x"
            + Long.toHexString(expected)
            + " -j ACCEPT\nCOMMIT\n");
    node.run(
            List.of("socat", "-u", "-", "UDP4-SENDTO:127.0.0.1:9777"),
            "x\n",
            Duration.ofSeconds(10))
        .orThrow();
    List<Rule> rules =
        saved("mangle", "OUTPUT").stream().filter(r -> r.print().contains("9777")).toList();
    assertThat(rules).hasSize(3);
    assertThat(rules.get(1).counters()).startsWith("[1:");
    assertThat(rules.get(2).counters())
        .as("mark 0x" + Long.toHexString(expected))
        .startsWith("[1:");
  }

  @Test
  void apply_connmarkSaveAndRestore_markMatchSeesTheValueWeCompute() {
    // A new connection's ctmark is 0: save with masks, then clear the mark and restore it.
    String m = "-p udp -d 127.0.0.1 --dport 9778";
    List<String> ops =
        List.of(
            "-j MARK --set-xmark 0xabcd/0xffffffff",
            "-j CONNMARK --save-mark --nfmask 0xff --ctmask 0xf0f",
            "-j CONNMARK --set-xmark 0x3000/0x3000",
            "-j MARK --set-xmark 0x11110000/0xffffffff",
            "-j CONNMARK --restore-mark --nfmask 0xffff --ctmask 0xff0f");
    long ct = 0;
    long mark = 0;
    StringBuilder in = new StringBuilder("*mangle\n");
    for (String op : ops) {
      in.append("-A OUTPUT ").append(m).append(' ').append(op).append('\n');
      Target t = TypedRule.parse(IptablesCodec.parseRule("-A X " + op)).target();
      if (t instanceof Target.Mark x) {
        mark = x.apply(mark);
      } else {
        long[] r = ((Target.ConnMark) t).apply(ct, mark);
        ct = r[0];
        mark = r[1];
      }
    }
    in.append("-A OUTPUT ")
        .append(m)
        .append(" -m mark --mark 0x")
        .append(Long.toHexString(mark))
        .append(" -m connmark --mark 0x")
        .append(Long.toHexString(ct))
        .append(" -j ACCEPT\nCOMMIT\n");
    restore(in.toString());
    node.run(
            List.of("socat", "-u", "-", "UDP4-SENDTO:127.0.0.1:9778"),
            "x\n",
            Duration.ofSeconds(10))
        .orThrow();
    List<Rule> rules = saved("mangle", "OUTPUT");
    Rule check = rules.get(rules.size() - 1);
    assertThat(check.print()).contains("--mark 0x" + Long.toHexString(mark));
    assertThat(check.counters())
        .as("mark 0x%s ctmark 0x%s", Long.toHexString(mark), Long.toHexString(ct))
        .startsWith("[1:");
  }
}
