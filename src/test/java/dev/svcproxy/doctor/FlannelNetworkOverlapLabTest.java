package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * pod-cidr-overlaps-node-network with flannel: its Network set to 192.168.0.0/16 on nodes of
 * 192.168.77.0/24. node1 gets flanneld's rules for that network (FLANNEL-POSTRTG, FLANNEL-FWD, as
 * flanneld v0.15+ writes them, the book's host-gw listing) and a pod on cni0 in its subnet
 * 192.168.236.0/24. flannel's "-s SUBNET -d NETWORK -j RETURN" then keeps the pod's connection to a
 * host of the node network from being masqueraded, and the host's reply goes astray. The doctor
 * names the overlap live (from the rules) and on a bundle (also from subnet.env when the bundle has
 * it); moving flannel's network off the node network clears it.
 */
class FlannelNetworkOverlapLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  private static final String ID = "pod-cidr-overlaps-node-network";

  /** flanneld's nat and filter rules for {@code network}, this node's subnet {@code subnet}. */
  static String flannelRules(String network, String subnet) {
    String masq = "-m comment --comment \"flanneld masq\"";
    String fwd = "-m comment --comment \"flanneld forward\"";
    return String.join(
        "\n",
        "*nat",
        ":FLANNEL-POSTRTG - [0:0]",
        "-A POSTROUTING " + masq + " -j FLANNEL-POSTRTG",
        "-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 " + masq + " -j RETURN",
        "-A FLANNEL-POSTRTG -s " + subnet + " -d " + network + " " + masq + " -j RETURN",
        "-A FLANNEL-POSTRTG -s " + network + " -d " + subnet + " " + masq + " -j RETURN",
        "-A FLANNEL-POSTRTG ! -s " + network + " -d " + subnet + " " + masq + " -j RETURN",
        "-A FLANNEL-POSTRTG -s "
            + network
            + " ! -d 224.0.0.0/4 "
            + masq
            + " -j MASQUERADE --random-fully",
        "-A FLANNEL-POSTRTG ! -s "
            + network
            + " -d "
            + network
            + " "
            + masq
            + " -j MASQUERADE --random-fully",
        "COMMIT",
        "*filter",
        ":FLANNEL-FWD - [0:0]",
        "-A FORWARD " + fwd + " -j FLANNEL-FWD",
        "-A FLANNEL-FWD -s " + network + " " + fwd + " -j ACCEPT",
        "-A FLANNEL-FWD -d " + network + " " + fwd + " -j ACCEPT",
        "COMMIT",
        "");
  }

  @Test
  void podCidrOverlapsNodeNetwork_flannelNetworkOverHostNetwork_namedLiveAndOnBundle_clearedByFix()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = demo.node("node1");
    Lab.Client master = lab.client("ext");
    lab.spawn(
        master.netns(),
        List.of("socat", "TCP-LISTEN:6443,fork,reuseaddr", "SYSTEM:echo apiserver $SOCAT_PEERADDR"),
        lab.workDir().resolve("apiserver.log"));
    // A pod on cni0 with an address of flannel's subnet for node1
    // (FLANNEL_SUBNET=192.168.236.1/24).
    Lab.Pod pod = lab.addPod("node1", "flpod");
    readdress(n1, pod, pod.ip(), null, "192.168.236.1", "192.168.236.10");
    load(node, flannelRules("192.168.0.0/16", "192.168.236.0/24"));
    awaitListening(master.netns(), 6443);

    // The kernel: node1 reaches the master, the pod on flannel's network does not.
    assertThat(lab.connect(n1.netns(), master.ip(), 6443).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    Connection broken = lab.connect(pod.netns(), master.ip(), 6443, Duration.ofSeconds(2));
    assertThat(broken.outcome()).as("%s", broken).isEqualTo(Connection.Outcome.TIMED_OUT);

    LiveAndBundle.Named named =
        LiveAndBundle.on(node, demo.objects()).named(ID, tmp.resolve("bundle"));
    for (Finding f : named.both()) {
      assertThat(f.severity()).isEqualTo(Severity.ERROR);
      assertThat(f.summary())
          .startsWith("The pod network 192.168.0.0/16 overlaps the node network 192.168.77.0/24");
      assertThat(f.evidence().get(0).text())
          .isEqualTo(
              "-A FLANNEL-POSTRTG -s 192.168.0.0/16 ! -d 224.0.0.0/4 -m comment --comment"
                  + " \"flanneld masq\" -j MASQUERADE --random-fully");
      assertThat(f.evidence())
          .extracting(Evidence::text)
          .contains("eth0: inet " + n1.ip() + "/24")
          .anyMatch(t -> t.startsWith("-A FLANNEL-POSTRTG -s 192.168.236.0/24 -d 192.168.0.0/16"))
          .anyMatch(t -> t.contains("with source 192.168.236.") && t.endsWith("not masqueraded"));
    }
    assertThat(named.bundle().evidence().get(0).where()).startsWith("iptables-save.txt:");

    // The same bundle with flanneld's subnet.env beside it (as a capture on a flannel node
    // writes it): the network is cited from there.
    Path dir = named.dir();
    Files.writeString(
        dir.resolve("flannel-subnet.env"),
        "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.236.1/24\nFLANNEL_MTU=1450\n"
            + "FLANNEL_IPMASQ=true\n");
    List<Finding> withEnv =
        Doctor.standard().examine(DoctorInputs.bundle(dir, demo.objects())).findings().stream()
            .filter(f -> f.id().equals(ID))
            .toList();
    assertThat(withEnv).singleElement();
    assertThat(withEnv.get(0).evidence().get(0))
        .isEqualTo(new Evidence("flannel-subnet.env:1", "FLANNEL_NETWORK=192.168.0.0/16"));

    // The fix: flannel's Network off the node network (net-conf.json, flanneld restarted), and
    // the pod recreated with an address of the new subnet.
    assertThat(named.live().fix()).contains("flannel's Network").contains("192.168.77.0/24");
    unload(node);
    load(node, flannelRules("10.200.0.0/16", "10.200.1.0/24"));
    readdress(n1, pod, "192.168.236.10", "192.168.236.1", "10.200.1.1", "10.200.1.10");
    try {
      assertThat(LiveAndBundle.on(node, demo.objects()).live(ID)).isEmpty();
      Connection fixed = lab.connect(pod.netns(), master.ip(), 6443);
      assertThat(fixed.outcome()).as("%s", fixed).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(fixed.peer()).isEqualTo(n1.ip());
    } finally {
      unload(node);
    }
  }

  /**
   * The pod's only address becomes {@code ip}/24 behind cni0's {@code gateway}/24 (replacing {@code
   * oldGateway}, unless null: the lab's own 10.244 address of cni0 stays for its pods).
   */
  private void readdress(
      Lab.Node n1, Lab.Pod pod, String old, String oldGateway, String gateway, String ip) {
    lab.in(pod.netns(), "ip", "addr", "del", old + "/24", "dev", "eth0");
    if (oldGateway != null) {
      lab.in(n1.netns(), "ip", "addr", "del", oldGateway + "/24", "dev", "cni0");
    }
    lab.in(n1.netns(), "ip", "addr", "add", gateway + "/24", "dev", "cni0");
    lab.in(pod.netns(), "ip", "addr", "add", ip + "/24", "dev", "eth0");
    lab.in(pod.netns(), "ip", "route", "replace", "default", "via", gateway);
  }

  private static void load(CommandRunner node, String rules) {
    node.run(List.of("iptables-nft-restore", "--noflush"), rules, Duration.ofSeconds(30)).orThrow();
  }

  /** flanneld's chains and the jumps to them removed (what stopping it with cleanup does). */
  private static void unload(CommandRunner node) {
    String masq = "flanneld masq";
    node.run(
        "iptables-nft",
        "-t",
        "nat",
        "-D",
        "POSTROUTING",
        "-m",
        "comment",
        "--comment",
        masq,
        "-j",
        "FLANNEL-POSTRTG");
    node.run("iptables-nft", "-t", "nat", "-F", "FLANNEL-POSTRTG");
    node.run("iptables-nft", "-t", "nat", "-X", "FLANNEL-POSTRTG");
    node.run(
        "iptables-nft",
        "-D",
        "FORWARD",
        "-m",
        "comment",
        "--comment",
        "flanneld forward",
        "-j",
        "FLANNEL-FWD");
    node.run("iptables-nft", "-F", "FLANNEL-FWD");
    node.run("iptables-nft", "-X", "FLANNEL-FWD");
  }

  private void awaitListening(String netns, int port) throws InterruptedException {
    long end = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (System.nanoTime() < end) {
      if (!lab.runner().inNetns(netns).run("ss", "-Hltn", "sport = :" + port).stdout().isBlank()) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("not listening on " + port);
  }
}
