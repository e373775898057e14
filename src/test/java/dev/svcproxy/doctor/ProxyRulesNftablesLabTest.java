package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same rule-state findings in nftables mode, where kube-proxy turns Service ports away through
 * its no-endpoint verdict maps instead of filter rules.
 */
class ProxyRulesNftablesLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.mode("nftables");
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  private CommandRunner node(String name) {
    return lab.runner().inNetns(lab.node(name).netns());
  }

  private DoctorReport bundle(String node, String name) {
    Path dir = tmp.resolve(name);
    BundleCapture.captureInto(node(node), dir);
    return Doctor.standard().examine(DoctorInputs.bundle(dir, Optional.of(cluster.manifests())));
  }

  private static List<Finding> find(DoctorReport r, String id) {
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  @Test
  void seed002AndEmptyService_namedFromTheMaps_clearedByAnEndpointAndByEtpCluster()
      throws Exception {
    String ext = lab.client("ext").netns();
    String client = lab.pod("client").netns();
    Lab.Node n1 = lab.node("node1");
    assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
        .isEqualTo(Connection.Outcome.TIMED_OUT);
    assertThat(lab.connect(client, DemoCluster.EMPTY, 80).outcome())
        .isEqualTo(Connection.Outcome.REFUSED);

    // Both named live and on a bundle captured from node1.
    LiveAndBundle lb = LiveAndBundle.on(node("node1"), Optional.of(cluster.manifests()));
    LiveAndBundle.Named etp = lb.named("etp-local-no-local-endpoints", tmp.resolve("etp"));
    LiveAndBundle.Named empty =
        lb.which(f -> f.summary().startsWith("default/empty:"))
            .named("no-endpoints", tmp.resolve("empty"));
    assertThat(etp.live().summary()).isEqualTo(etp.bundle().summary());
    assertThat(empty.live().summary()).isEqualTo(empty.bundle().summary());

    DoctorReport r = bundle("node1", "node1");
    assertThat(find(r, "etp-local-no-local-endpoints"))
        .singleElement()
        .satisfies(
            f -> {
              assertThat(f.summary())
                  .startsWith("default/web-local:http ")
                  .endsWith("its endpoints are on node2");
              assertThat(f.evidence().get(0).where()).isEqualTo("nft-ruleset.json");
              assertThat(f.evidence().get(0).text())
                  .startsWith("map ip kube-proxy no-endpoint-nodeports element ")
                  .contains(String.valueOf(DemoCluster.WEB_LOCAL_NODEPORT))
                  .contains("drop");
            });
    assertThat(find(r, "no-endpoints"))
        .singleElement()
        .satisfies(
            f -> {
              assertThat(f.severity()).isEqualTo(Severity.INFO);
              assertThat(f.summary()).startsWith("default/empty:http has no endpoints");
              assertThat(f.evidence().get(0).text())
                  .startsWith("map ip kube-proxy no-endpoint-services element ")
                  .contains(DemoCluster.EMPTY)
                  .contains("reject-chain");
            });
    // The healthy parts of the nftables node raise nothing worse than info.
    assertThat(r.findings())
        .as(DoctorFormatter.text(r))
        .allMatch(f -> f.severity() == Severity.INFO);
    assertThat(find(bundle("node2", "node2"), "etp-local-no-local-endpoints")).isEmpty();

    // The fix for an endpoint-less Service: give it an endpoint (a ready pod in its slice).
    try {
      lb.which(f -> f.summary().startsWith("default/empty:"))
          .clearedBy(
              empty,
              () -> {
                int before = cluster.proxy(1).count("synced nftables");
                cluster.writeManifest(
                    "empty-slice.yaml",
                    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
                        + "  namespace: default\n  name: empty-1\n"
                        + "  labels: {kubernetes.io/service-name: empty}\naddressType: IPv4\n"
                        + "ports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n"
                        + "- addresses: ["
                        + lab.pod("web-a").ip()
                        + "]\n  nodeName: node1\n");
                cluster.proxy(1).awaitLog("synced nftables", before + 1, Duration.ofSeconds(30));
              },
              "kubernetes.io/service-name=empty",
              "lists ready endpoints");
      assertThat(lab.connect(client, DemoCluster.EMPTY, 80).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
      assertThat(find(bundle("node1", "fixed"), "no-endpoints")).isEmpty();
    } finally {
      // Synced before the next change, so that its sync is not mistaken for this one's.
      int before = cluster.proxy(1).count("synced nftables");
      cluster.writeManifest("empty-slice.yaml", "");
      cluster.proxy(1).awaitLog("synced nftables", before + 1, Duration.ofSeconds(30));
    }

    // The fix the eTP=Local finding points at when the drop is not wanted: eTP=Cluster.
    Path services = cluster.manifests().resolve("services.yaml");
    String before = Files.readString(services);
    assertThat(before).contains("externalTrafficPolicy: Local");
    try {
      lb.clearedBy(
          etp,
          () ->
              writeServices(
                  before.replace("externalTrafficPolicy: Local", "externalTrafficPolicy: Cluster")),
          "externalTrafficPolicy: Cluster");
      assertThat(lab.connect(ext, n1.ip(), DemoCluster.WEB_LOCAL_NODEPORT).outcome())
          .isEqualTo(Connection.Outcome.REPLIED);
    } finally {
      writeServices(before);
    }
  }

  /** Writes the Services and waits until both proxies synced them. */
  private void writeServices(String text) {
    int a = cluster.proxy(1).count("synced nftables");
    int b = cluster.proxy(2).count("synced nftables");
    cluster.writeManifest("services.yaml", text);
    cluster.proxy(1).awaitLog("synced nftables", a + 1, Duration.ofSeconds(30));
    cluster.proxy(2).awaitLog("synced nftables", b + 1, Duration.ofSeconds(30));
  }
}
