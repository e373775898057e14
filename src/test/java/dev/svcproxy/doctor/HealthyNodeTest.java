package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * No false alarms: the demo cluster as started works (its lab tests prove every connection), so the
 * whole doctor, live and on captured bundles, must find nothing worse than info on its nodes.
 */
class HealthyNodeTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  @TempDir Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"node1", "node2"})
  void demoNode_liveAndBundle_noErrorOrWarning(String name) {
    CommandRunner node = demo.node(name);
    Optional<Path> objects = demo.objects();
    DoctorReport live = Doctor.standard().examine(DoctorInputs.live(node, objects));
    assertThat(live.findings())
        .as(DoctorFormatter.text(live))
        .allMatch(f -> f.severity() == Severity.INFO);
    // Everything a live doctor gathers is read, nothing left over as an unknown file.
    assertThat(live.assumptions()).noneMatch(a -> a.startsWith("not a bundle file"));
    Path dir = tmp.resolve(name);
    BundleCapture.captureInto(node, dir);
    DoctorReport bundle = Doctor.standard().examine(DoctorInputs.bundle(dir, objects));
    assertThat(bundle.findings())
        .as(DoctorFormatter.text(bundle))
        .allMatch(f -> f.severity() == Severity.INFO);
    assertThat(bundle.warnings()).as(DoctorFormatter.text(bundle)).isEmpty();
  }
}
