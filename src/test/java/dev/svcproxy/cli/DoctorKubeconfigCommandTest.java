package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.source.api.MockApiServer;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `svcproxy doctor --bundle B --kubeconfig K` end to end: the Services and EndpointSlices come from
 * an API server (fabric8's mock), and the finding shows the slice it read there.
 */
class DoctorKubeconfigCommandTest {
  @TempDir Path dir;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /** kube-proxy's iptables mode for default/web:http, whose one pod is not ready. */
  private static final String IPTABLES =
      """
      *filter
      :INPUT ACCEPT [0:0]
      :FORWARD ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      -A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
      COMMIT
      """;

  @Test
  void doctorBundleWithKubeconfig_podNotReady_namesNoEndpointsWithTheApisSlice() throws Exception {
    Path bundle = Files.createDirectories(dir.resolve("bundle"));
    Files.writeString(bundle.resolve("iptables-save.txt"), IPTABLES);
    try (MockApiServer s = MockApiServer.start(0)) {
      var k = s.client();
      k.services()
          .inNamespace("default")
          .resource(MockApiServer.service("default", "web", "10.96.0.10", 80))
          .create();
      EndpointSlice slice =
          MockApiServer.slice("default", "web-1", "web", 8080, List.of("10.244.1.5"));
      slice.getEndpoints().get(0).getConditions().setReady(false);
      k.discovery().v1().endpointSlices().inNamespace("default").resource(slice).create();
      Path kc = dir.resolve("kubeconfig");
      Files.writeString(kc, s.kubeconfig());
      int rc =
          Main.execute(
              new String[] {"doctor", "--bundle", bundle.toString(), "--kubeconfig", kc.toString()},
              new PrintWriter(out, true),
              new PrintWriter(err, true));
      // Hand reasoning: the REJECT is kube-proxy's "no endpoints" rule for 10.96.0.10:80, and the
      // API's slice holds web's only endpoint 10.244.1.5:8080 with ready=false: no-endpoints,
      // shown with that slice (only the API server knows the pod that is not ready).
      assertThat(rc).as(out + "\n" + err).isEqualTo(1);
      assertThat(out.toString())
          .contains("no-endpoints: default/web:http")
          .contains("iptables-save.txt:8: -A KUBE-SERVICES -d 10.96.0.10/32")
          .contains("10.244.1.5:8080");
    }
  }
}
