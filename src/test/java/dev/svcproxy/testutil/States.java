package dev.svcproxy.testutil;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import dev.svcproxy.source.ManifestParser;
import dev.svcproxy.source.ManifestSet;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** Builds ProxyStates from manifest text for tests. */
public final class States {
  private States() {}

  /**
   * Manifests of one single-port Service "ns/NAME" (port "p", 80/TCP) and its slice with one
   * endpoint: the smallest input that gives a service port its own SVC and SEP chains.
   */
  public static String oneEndpointService(String name, String clusterIP, String endpointIp) {
    return """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns, name: %1$s}
        spec: {clusterIP: %2$s, ports: [{name: p, port: 80}]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: %1$s-1, labels: {kubernetes.io/service-name: %1$s}}
        addressType: IPv4
        ports: [{name: p, port: 80}]
        endpoints: [{addresses: [%3$s]}]
        ---
        """
        .formatted(name, clusterIP, endpointIp);
  }

  public static ProxyState fromYaml(String yaml) {
    ManifestSet set = new ManifestParser().parse("test.yaml", yaml);
    if (!set.problems().isEmpty()) {
      throw new IllegalArgumentException(set.problems().toString());
    }
    return ProxyStateBuilder.build(set.services(), set.slices());
  }

  public static String resource(String path) {
    try (InputStream in = States.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalArgumentException("no resource " + path);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
