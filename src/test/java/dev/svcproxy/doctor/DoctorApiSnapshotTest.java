package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.source.api.MockApiServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `doctor --kubeconfig`: one snapshot of the cluster's objects from the API source. */
class DoctorApiSnapshotTest {
  @TempDir Path dir;

  @Test
  void apiSnapshot_listsServicesAndSlicesOnce() throws Exception {
    try (MockApiServer s = MockApiServer.start(0)) {
      var k = s.client();
      k.services()
          .inNamespace("default")
          .resource(MockApiServer.service("default", "web", "10.96.0.10", 80))
          .create();
      k.discovery()
          .v1()
          .endpointSlices()
          .inNamespace("default")
          .resource(MockApiServer.slice("default", "web-1", "web", 8080, List.of("10.244.1.5")))
          .create();
      Path kc = dir.resolve("kubeconfig");
      Files.writeString(kc, s.kubeconfig());
      ProxyState st = DoctorInputs.apiSnapshot(kc, "node1", Duration.ofSeconds(20));
      ServicePortName web = new ServicePortName("default", "web", "http", Protocol.TCP);
      assertThat(st.services().get(web).clusterIP()).isEqualTo("10.96.0.10");
      assertThat(st.endpointsOf(web)).extracting(Endpoint::ip).containsExactly("10.244.1.5");
    }
  }

  @Test
  void apiSnapshot_unreachable_failsWithinTimeoutNamingTheFlag() throws Exception {
    Path kc = dir.resolve("kubeconfig");
    // A port nothing listens on (the mock bound and closed it).
    int port;
    try (MockApiServer s = MockApiServer.start(0)) {
      port = s.port();
    }
    Files.writeString(kc, MockApiServer.kubeconfig(MockApiServer.urlOf(port)));
    assertThatThrownBy(() -> DoctorInputs.apiSnapshot(kc, "", Duration.ofSeconds(2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--kubeconfig " + kc);
  }
}
