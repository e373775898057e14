package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kernel settings broken on a lab node, named by the doctor on the live node and on a captured
 * bundle, and cleared by the fix it gives; real connections show the breakage is real.
 */
class KernelSettingsLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  @TempDir Path tmp;

  @Test
  void ipForwardOff_namedLiveAndOnBundle_clearedByFix() throws Exception {
    Lab lab = demo.lab();
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = lab.runner().inNetns(n1.netns());
    String ext = lab.client("ext").netns();
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
    lab.in(n1.netns(), "sysctl", "-w", "net.ipv4.ip_forward=0").orThrow();
    try {
      // The breakage is real: the NodePort's endpoints sit behind cni0, a forward away.
      assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.TIMED_OUT);

      LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
      LiveAndBundle.Named named = lb.named("ip-forward-off", tmp.resolve("bundle"));
      Finding live = named.live();
      assertThat(live.severity()).isEqualTo(Severity.ERROR);
      assertThat(live.evidence())
          .singleElement()
          .satisfies(
              e -> {
                assertThat(e.where()).isEqualTo("$ sysctl net.ipv4.ip_forward");
                assertThat(e.text()).matches("net\\.ipv4\\.ip_forward\\s*=\\s*0");
              });

      DoctorInput bundle = named.bundleInput();
      // The cited line is the file's line that sets it, counted independently here.
      String where = named.bundle().evidence().get(0).where();
      assertThat(where).startsWith("sysctl.txt:");
      int line = Integer.parseInt(where.substring("sysctl.txt:".length()));
      List<String> lines = Files.readAllLines(named.dir().resolve("sysctl.txt"));
      assertThat(lines.get(line - 1)).matches("net\\.ipv4\\.ip_forward\\s*=\\s*0");

      // With the packet the trace says why, in the tracer's own reason code.
      DoctorReport traced =
          Doctor.standard()
              .examine(
                  bundle.withPacket(
                      new PacketSpec(
                          lab.client("ext").ip(),
                          40000,
                          n1.ip(),
                          DemoCluster.WEB_NODEPORT,
                          "tcp",
                          null)));
      assertThat(traced.trace().outcomes())
          .isNotEmpty()
          .allSatisfy(o -> assertThat(o.reasonCode()).isEqualTo(ReasonCode.FORWARDING_DISABLED));

      lb.clearedBy(
          named,
          () -> lab.in(n1.netns(), "sysctl", "-w", "net.ipv4.ip_forward=1").orThrow(),
          "sysctl -w net.ipv4.ip_forward=1");
    } finally {
      lab.in(n1.netns(), "sysctl", "-w", "net.ipv4.ip_forward=1").orThrow();
    }
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.REPLIED);
  }
}
