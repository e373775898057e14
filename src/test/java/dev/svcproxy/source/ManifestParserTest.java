package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import org.junit.jupiter.api.Test;

class ManifestParserTest {
  private final ManifestParser parser = new ManifestParser();

  private static final String GOOD =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: good}
      spec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}
      """;

  @Test
  void parse_badDocuments_reportedWithFileDocumentAndReason_restKept() {
    String text =
        GOOD
            + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: badip}\nspec: {clusterIP: 10.96.0.300, ports: [{port: 80}]}\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: noip}\nspec: {ports: [{port: 80}]}\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: badport}\nspec: {clusterIP: 10.96.0.2, ports: [{port: 70000}]}\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: badproto}\nspec: {clusterIP: 10.96.0.3, ports: [{port: 80, protocol: ICMP}]}\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: badrange}\nspec: {clusterIP: 10.96.0.4, type: LoadBalancer, loadBalancerSourceRanges: [10.0.0.0/33], ports: [{port: 80}]}\n";
    ManifestSet set = parser.parse("dir/svc.yaml", text);
    assertThat(set.services()).extracting(s -> s.name()).containsExactly("good");
    assertThat(set.problems())
        .extracting(ManifestProblem::document)
        .containsExactly(2, 3, 4, 5, 6, 7);
    assertThat(set.problems().get(0).toString())
        .isEqualTo("dir/svc.yaml: document 2: unsupported kind \"v1/ConfigMap\"");
    assertThat(set.problems().get(1).reason()).contains("default/badip").contains("10.96.0.300");
    assertThat(set.problems().get(2).reason()).contains("clusterIP is missing");
    assertThat(set.problems().get(3).reason()).contains("invalid port \"70000\"");
    assertThat(set.problems().get(4).reason()).contains("unknown protocol \"ICMP\"");
    assertThat(set.problems().get(5).reason()).contains("10.0.0.0/33");
  }

  @Test
  void parse_headlessAndExternalName_skippedSilently() {
    String text =
        "apiVersion: v1\nkind: Service\nmetadata: {name: h}\nspec: {clusterIP: None, ports: [{port: 80}]}\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: e}\nspec: {type: ExternalName, externalName: example.org}\n";
    ManifestSet set = parser.parse("f", text);
    assertThat(set.services()).isEmpty();
    assertThat(set.problems()).isEmpty();
  }

  @Test
  void parse_brokenYaml_reportedNotThrown() {
    ManifestSet set = parser.parse("f.yaml", GOOD + "---\nkind: [unclosed\n");
    assertThat(set.services()).hasSize(1);
    assertThat(set.problems())
        .singleElement()
        .satisfies(p -> assertThat(p.reason()).startsWith("not valid YAML"));
  }

  @Test
  void parse_legacyEndpointsAndJsonList_convertedToSlices() {
    String json =
        """
        {"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "ns", "name": "good"},
           "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "http", "port": 80}]}},
          {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"namespace": "ns", "name": "good"},
           "subsets": [{"addresses": [{"ip": "10.1.0.5", "nodeName": "n1"}],
                        "notReadyAddresses": [{"ip": "10.1.0.6"}],
                        "ports": [{"name": "http", "port": 8080}]}]}
        ]}
        """;
    ManifestSet set = parser.parse("list.json", json);
    assertThat(set.problems()).isEmpty();
    ProxyState state = ProxyStateBuilder.build(set.services(), set.slices());
    var eps = state.endpointsOf(new ServicePortName("ns", "good", "http", Protocol.TCP));
    assertThat(eps)
        .extracting(e -> e.address() + "/" + e.ready())
        .containsExactly("10.1.0.5:8080/true", "10.1.0.6:8080/false");
    assertThat(eps.get(0).nodeName()).isEqualTo("n1");
  }

  @Test
  void build_endpointSliceConditions_defaultAsUpstream() {
    String text =
        GOOD
            + "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            + "metadata: {namespace: ns, name: good-1, labels: {kubernetes.io/service-name: good}}\n"
            + "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
            + "endpoints:\n- addresses: [10.1.0.2]\n- addresses: [10.1.0.1]\n  conditions: {ready: false, serving: true, terminating: true}\n"
            + "- addresses: [10.1.0.2]\n";
    ManifestSet set = parser.parse("f", text);
    ProxyState state = ProxyStateBuilder.build(set.services(), set.slices());
    var eps = state.endpointsOf(new ServicePortName("ns", "good", "http", Protocol.TCP));
    assertThat(eps).extracting(e -> e.address()).containsExactly("10.1.0.1:8080", "10.1.0.2:8080");
    assertThat(eps.get(0).serving()).isTrue();
    assertThat(eps.get(0).terminating()).isTrue();
    assertThat(eps.get(1).ready()).isTrue();
    assertThat(eps.get(1).terminating()).isFalse();
  }

  @Test
  void parse_serviceAndItsSlice_repeatedNamesAreOneString() {
    String text =
        GOOD
            + "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            + "metadata: {namespace: ns, name: good-1, labels: {kubernetes.io/service-name: good}}\n"
            + "addressType: IPv4\n"
            + "endpoints: [{addresses: [10.1.0.1], nodeName: node-a}, {addresses: [10.1.0.2], nodeName: node-a}]\n"
            + "ports: [{name: http, port: 8080}]\n";

    ManifestSet set = parser.parse("dir/svc.yaml", text);

    var svc = set.services().get(0);
    var slice = set.slices().get(0);
    // Same text read from two objects: one String instance, not two equal ones.
    assertThat(slice.namespace()).isSameAs(svc.namespace());
    assertThat(slice.serviceName()).isSameAs(svc.name());
    assertThat(slice.ports().get(0).name()).isSameAs(svc.ports().get(0).name());
    assertThat(slice.endpoints().get(1).nodeName()).isSameAs(slice.endpoints().get(0).nodeName());
    assertThat(set.items().get(1).namespace()).isSameAs(set.items().get(0).namespace());
  }
}
