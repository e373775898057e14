package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * localhost-nodeport-unsupported in nftables mode, on the demo cluster run in that mode: the node's
 * own 127.0.0.1:NodePort is refused while its address serves the NodePort (upstream's nftables mode
 * leaves 127.0.0.0/8 out). It is a limit of the mode, so the fix is the workaround it names.
 */
class LocalhostNodePortNftablesLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.mode("nftables");
  @TempDir Path tmp;

  private static List<Finding> named(DoctorInput in) {
    return Doctor.standard().examine(in).findings().stream()
        .filter(f -> f.id().equals("localhost-nodeport-unsupported"))
        .toList();
  }

  @Test
  void localhostNodePort_refused_namedLiveAndOnBundle_nodeIpServes() {
    Lab lab = demo.lab();
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = lab.runner().inNetns(n1.netns());
    // The breakage, for real: nothing answers 127.0.0.1:NodePort on the node.
    assertThat(lab.connect(n1.netns(), "127.0.0.1", DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REFUSED);

    Finding f =
        LiveAndBundle.on(node, demo.objects())
            .named("localhost-nodeport-unsupported", tmp.resolve("bundle"))
            .live();
    assertThat(f.severity()).isEqualTo(Severity.INFO);
    assertThat(f.summary()).contains("tcp/" + DemoCluster.WEB_NODEPORT).contains("nftables mode");
    assertThat(f.evidence().get(0).where())
        .isEqualTo("$ nft list map ip kube-proxy service-nodeports");
    assertThat(f.evidence().get(0).text()).startsWith("tcp . ");

    // The workaround the finding gives works: the node's own address serves the NodePort.
    assertThat(f.fix()).contains("node's own address");
    assertThat(lab.connect(n1.netns(), n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }

  @Test
  void iptablesModeNode_notNamed() {
    Lab lab = demo.lab();
    // The same Services in iptables mode are on another lab; here a node of this lab with its
    // kube-proxy table removed no longer has the map, and the check stays silent.
    Lab.Node n2 = lab.node("node2");
    CommandRunner node = lab.runner().inNetns(n2.netns());
    java.util.Map<String, String> files = new java.util.HashMap<>(BundleCapture.capture(node));
    files.remove("nft-ruleset.json");
    assertThat(named(DoctorInputs.files(files, Optional.empty()))).isEmpty();
  }
}
