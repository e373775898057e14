package dev.svcproxy.sync.nftables;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * svcproxy run switching modes on one lab node, as upstream's startup cleanup does it: iptables
 * mode deletes the nftables tables, nftables mode removes iptables mode's chains.
 */
class ModeSwitchLabTest {
  @Test
  void run_switchingModes_removesTheOtherModesState() throws Exception {
    KernelTests.require("lab tests");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      Lab.Node node = lab.node("node1");
      CommandRunner ns = lab.runner().inNetns(node.netns());
      Path manifests = lab.workDir().resolve("manifests");
      Files.createDirectories(manifests);
      Files.writeString(
          manifests.resolve("web.yaml"),
          States.oneEndpointService("web", "10.96.0.10", "10.244.1.2"));
      ns.run("nft", "add", "table", "ip", "kube-proxy").orThrow();
      ns.run("nft", "add", "table", "ip6", "kube-proxy").orThrow();

      ProxyProcess iptables = ProxyProcess.start(lab, node, manifests, "iptables", List.of());
      assertThat(ns.run("nft", "list", "tables").orThrow().stdout()).doesNotContain("kube-proxy");
      assertThat(ns.run("iptables-save", "-t", "nat").orThrow().stdout()).contains("KUBE-SERVICES");
      iptables.stop();

      ProxyProcess nft = ProxyProcess.start(lab, node, manifests, "nftables", List.of());
      assertThat(ns.run("iptables-save", "-t", "nat").orThrow().stdout()).doesNotContain("KUBE-");
      assertThat(ns.run("nft", "list", "table", "ip", "kube-proxy").orThrow().stdout())
          .contains("10.96.0.10 . tcp . 80 : goto service-");
      nft.stop();
    }
  }
}
