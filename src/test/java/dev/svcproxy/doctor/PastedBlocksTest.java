package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.doctor.PastedInput.Kind;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * How pasted text is cut into blocks: a prompted command's output runs to the next prompt, except
 * that after a blank line a paragraph recognised as another command's output (pasted without its
 * prompt) starts a block of its own; paragraphs of the command's own kind stay with it. And which
 * sysctl line a finding cites when a key is pasted twice.
 */
class PastedBlocksTest {
  private static PastedInput.Split split(String text) {
    return PastedInput.split(List.of(new PastedInput.Source("i.txt", text)));
  }

  private static DoctorReport examine(String text) {
    return Doctor.standard()
        .examine(
            DoctorInputs.paste(List.of(new PastedInput.Source("i.txt", text)), Optional.empty()));
  }

  @Test
  void promptedBlock_thenPromptlessBlocksOfOtherKinds_eachIsItsOwnBlock() {
    // Seed 000 as its author pasted it: the `ip addr | grep` line has a prompt, the ipvsadm -Sn
    // rules and the nat table follow after blank lines without one.
    String text =
        """
        $ ip addr |grep 10.20.0.1
        784: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN
            inet 10.20.0.1/32 brd 10.20.0.1 scope global kube-ipvs0

        -A -t 10.20.0.1:443 -s rr -p 10800
        -a -t 10.20.0.1:443 -r 10.19.9.120:6443 -m -w 1

        *nat
        -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
        -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        COMMIT
        """;
    PastedInput.Split s = split(text);
    assertThat(s.blocks())
        .extracting(PastedInput.Block::kind, b -> b.numbers().get(0))
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(Kind.ADDR, 1),
            org.assertj.core.groups.Tuple.tuple(Kind.IPVS, 5),
            org.assertj.core.groups.Tuple.tuple(Kind.IPTABLES, 8));
    assertThat(s.unrecognised()).isEmpty();
    DoctorInput in =
        DoctorInputs.paste(List.of(new PastedInput.Source("i.txt", text)), Optional.empty());
    assertThat(in.node().ipvs().services()).hasSize(1);
    assertThat(in.node().interfaces()).extracting(i -> i.name()).containsExactly("kube-ipvs0");
    assertThat(in.warnings()).isEmpty();
  }

  @Test
  void iptablesList_blankLinesBetweenChains_staysOneBlock_thenRoutesSplitOff() {
    // `iptables -L -n -v` prints a blank line between chains: every paragraph is its output. The
    // `ip route` lines after it, pasted without a prompt, are another command's.
    String text =
        """
        # iptables -t nat -L -n -v
        Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)
         pkts bytes target     prot opt in     out     source               destination
           12   720 KUBE-SERVICES  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes service portals */

        Chain KUBE-SERVICES (1 references)
         pkts bytes target     prot opt in     out     source               destination
            0     0 KUBE-SVC-NPX46M4PTMTKRN6Y  tcp  --  *      *       0.0.0.0/0            10.96.0.1            /* default/kubernetes:https cluster IP */ tcp dpt:443

        default via 172.18.0.1 dev eth0
        172.18.0.0/16 dev eth0 proto kernel scope link src 172.18.0.2
        """;
    PastedInput.Split s = split(text);
    assertThat(s.blocks())
        .extracting(PastedInput.Block::kind, b -> b.numbers().get(0))
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(Kind.IPTABLES, 1),
            org.assertj.core.groups.Tuple.tuple(Kind.ROUTE, 10));
    assertThat(s.blocks().get(0).lines()).hasSize(8); // prompt, 3 + blank + 3
  }

  @Test
  void kubectlTables_thenPromptlessConntrack_splitOff() {
    String text =
        """
        $ kubectl get svc,ep -o wide
        NAME                TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)         AGE   SELECTOR
        service/kube-dns    ClusterIP   10.96.0.10    <none>        53/UDP,53/TCP   10d   k8s-app=kube-dns

        NAME                ENDPOINTS                     AGE
        endpoints/kube-dns  10.244.1.3:53,10.244.1.3:53   10d

        udp      17 29 src=10.244.1.9 dst=10.96.0.10 sport=41234 dport=53 [UNREPLIED] src=10.96.0.10 dst=10.244.1.9 sport=53 dport=41234 mark=0 use=1
        """;
    // Both tables are kubectl's output (one block of one kind); the conntrack line is not.
    PastedInput.Split s = split(text);
    assertThat(s.blocks())
        .extracting(PastedInput.Block::kind, b -> b.numbers().get(0))
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(Kind.KUBE_TABLE, 1),
            org.assertj.core.groups.Tuple.tuple(Kind.CONNTRACK, 8));
    assertThat(s.blocks().get(0).numbers()).last().isEqualTo(6);
  }

  @Test
  void promptedBlock_outputAfterABlankLineRightUnderThePrompt_staysTheCommands() {
    // The first paragraph under a prompt is the command's output whatever it looks like (here a
    // blank line between prompt and output; `ip r` output looks like nothing else anyway).
    String text =
        """
        $ ip r

        default via 172.18.0.1 dev eth0

        10.244.1.0/24 via 172.18.0.3 dev eth0
        """;
    assertThat(split(text).blocks())
        .extracting(PastedInput.Block::kind)
        .containsExactly(Kind.ROUTE);
  }

  @Test
  void sysctlPastedTwice_lastWriteWins_findingCitesTheLineWhoseValueIsUsed() {
    // /tmp/audit11/blank.txt: the key set to 1, then to 0. The kernel keeps the last write, and
    // the reader keeps the last value: ip_forward is 0, and the evidence must be line 4 (the
    // line that says 0), not line 2 (which says 1 and contradicts the finding).
    String text =
        """
        $ sysctl net.ipv4.ip_forward
        net.ipv4.ip_forward = 1

        net.ipv4.ip_forward = 0
        """;
    DoctorReport r = examine(text);
    assertThat(r.findings()).extracting(Finding::id).containsExactly("ip-forward-off");
    assertThat(r.findings().get(0).evidence())
        .containsExactly(new Evidence("i.txt:4", "net.ipv4.ip_forward = 0"));
  }

  @Test
  void sysctlPastedTwice_zeroThenOne_lastWriteWins_noFinding() {
    String text =
        """
        $ sysctl net.ipv4.ip_forward
        net.ipv4.ip_forward = 0
        $ sysctl -w net.ipv4.ip_forward=1
        net.ipv4.ip_forward = 1
        """;
    assertThat(examine(text).findings()).extracting(Finding::id).doesNotContain("ip-forward-off");
  }

  @Test
  void sysctlLastLineInvalid_valueOfTheLineBeforeUsed_andCited() {
    // "yes" is not a value of ip_forward: the reader ignores it (with a warning) and keeps 0;
    // the evidence cites the line that set the 0.
    String text =
        """
        $ sysctl -a | grep forward
        net.ipv4.ip_forward = 0
        net.ipv4.ip_forward = yes
        """;
    DoctorReport r = examine(text);
    assertThat(r.findings().get(0).evidence())
        .containsExactly(new Evidence("i.txt:2", "net.ipv4.ip_forward = 0"));
  }
}
