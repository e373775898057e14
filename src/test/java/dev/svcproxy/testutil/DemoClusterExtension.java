package dev.svcproxy.testutil;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One lab.DemoCluster for a test class (a JUnit 5 extension): started before its first test, after
 * {@link KernelTests#require} (so it fails, never skips, without root or netns), in namespaces with
 * a per-run prefix, and always closed after its last test. Use it from a static field:
 *
 * <pre>
 * &#64;RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
 * ... demo.lab().connect(...); DoctorInputs.live(demo.node("node1"), demo.objects()) ...
 * </pre>
 */
public final class DemoClusterExtension implements BeforeAllCallback, AfterAllCallback {
  private final String mode;
  // Set by beforeAll, read by the tests of the one class this instance is registered on.
  private DemoCluster cluster;

  private DemoClusterExtension(String mode) {
    this.mode = mode;
  }

  /** The demo cluster with svcproxy in iptables mode. */
  public static DemoClusterExtension iptables() {
    return new DemoClusterExtension("iptables");
  }

  /** The demo cluster with svcproxy run --mode {@code mode} (iptables, nftables) on each node. */
  public static DemoClusterExtension mode(String mode) {
    return new DemoClusterExtension(mode);
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    KernelTests.require("lab tests (" + context.getDisplayName() + ")");
    cluster = DemoCluster.start(new ProcessCommandRunner(), mode);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (cluster != null) {
      cluster.close();
      cluster = null;
    }
  }

  /** The running cluster; fails outside the class's tests. */
  public DemoCluster cluster() {
    if (cluster == null) {
      throw new IllegalStateException("the demo cluster runs only during the class's tests");
    }
    return cluster;
  }

  /** The cluster's lab. */
  public Lab lab() {
    return cluster().lab();
  }

  /** A runner inside the network namespace of node {@code name} ("node1", "node2"). */
  public CommandRunner node(String name) {
    return lab().runner().inNetns(lab().node(name).netns());
  }

  /** The cluster's Services and EndpointSlices, as the doctor's --manifests. */
  public Optional<Path> objects() {
    return Optional.of(cluster().manifests());
  }
}
