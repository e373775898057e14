package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.svcproxy.render.iptables.OverallRulesTestAccess;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Manifests are checked as the API server checks them. The valid/invalid tables are upstream's
 * (k8s.io/apimachinery/pkg/util/validation/validation_test.go: TestIsDNS1123Label,
 * TestIsDNS1123Subdomain, TestIsDNS1035Label, TestIsValidPortName, TestIsQualifiedName,
 * TestIsValidLabelValue, TestIsValidIP, TestIsValidCIDR, TestIsValidPortNum), each pushed through
 * the field of a manifest that upstream checks with that rule (pkg/apis/core/validation,
 * pkg/apis/discovery/validation).
 */
class ManifestValidationTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final ManifestParser parser = new ManifestParser();

  private static final String GOOD =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: good}
      spec: {clusterIP: 172.30.0.41, ports: [{name: p80, port: 80}]}
      ---
      apiVersion: discovery.k8s.io/v1
      kind: EndpointSlice
      metadata: {namespace: ns, name: good-1, labels: {kubernetes.io/service-name: good}}
      addressType: IPv4
      ports: [{name: p80, port: 80, protocol: TCP}]
      endpoints: [{addresses: [10.180.0.1]}]
      """;

  private String render(String yaml) {
    ManifestSet set = parser.parse("svc.yaml", yaml);
    return OverallRulesTestAccess.renderer()
        .render(ProxyStateBuilder.build(set.services(), set.slices()))
        .text();
  }

  @Test
  void parse_serviceNameWithNewlines_skippedWithEscapedWarningAndRendersNothingOfIt() {
    String bad =
        "---\napiVersion: v1\nkind: Service\n"
            + "metadata: {namespace: ns, name: \"x\\n-A INPUT -j ACCEPT\\n#\"}\n"
            + "spec: {clusterIP: 172.30.0.42, ports: [{name: p80, port: 80}]}\n";
    ManifestSet set = parser.parse("svc.yaml", GOOD + bad);

    assertThat(set.services()).extracting(s -> s.name()).containsExactly("good");
    assertThat(set.problems())
        .singleElement()
        .satisfies(
            p -> {
              assertThat(p.toString())
                  .startsWith(
                      "svc.yaml: document 3: Service ns/x\\n-A INPUT -j ACCEPT\\n#: metadata.name:"
                          + " invalid value \"x\\n-A INPUT -j ACCEPT\\n#\": a DNS-1035 label");
              assertThat(p.toString()).doesNotContain("\n", "\r");
            });
    assertThat(render(GOOD + bad)).isEqualTo(render(GOOD));
  }

  @Test
  void parse_portNameCarryingDnatLine_skippedAndRendersNothingOfIt() {
    String bad =
        "---\napiVersion: v1\nkind: Service\nmetadata: {namespace: ns, name: evil}\n"
            + "spec:\n  clusterIP: 172.30.0.43\n  ports:\n"
            + "  - name: \"p80\\n-A PREROUTING -p tcp -j DNAT --to-destination 6.6.6.6:22\\n#\"\n"
            + "    port: 80\n";
    ManifestSet set = parser.parse("svc.yaml", GOOD + bad);

    assertThat(set.services()).extracting(s -> s.name()).containsExactly("good");
    assertThat(set.problems())
        .singleElement()
        .satisfies(
            p ->
                assertThat(p.toString())
                    .startsWith("svc.yaml: document 3: Service ns/evil: spec.ports[0].name:")
                    .contains("p80\\n-A PREROUTING")
                    .doesNotContain("\n"));
    String rendered = render(GOOD + bad);
    assertThat(rendered).isEqualTo(render(GOOD)).doesNotContain("6.6.6.6");
  }

  @Test
  void parse_slicePortNameAndNamespaceWithNewlines_skippedAndRenderNothingOfThem() {
    String bad =
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            + "metadata: {namespace: ns, name: good-2, labels: {kubernetes.io/service-name: good}}\n"
            + "addressType: IPv4\n"
            + "ports: [{name: \"p80\\n-A INPUT -j ACCEPT\", port: 80, protocol: TCP}]\n"
            + "endpoints: [{addresses: [10.180.0.9]}]\n"
            + "---\napiVersion: v1\nkind: Service\n"
            + "metadata: {namespace: \"ns\\n-A INPUT -j ACCEPT\", name: good}\n"
            + "spec: {clusterIP: 172.30.0.44, ports: [{name: p80, port: 80}]}\n";
    ManifestSet set = parser.parse("svc.yaml", GOOD + bad);

    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .satisfiesExactly(
            p ->
                assertThat(p)
                    .startsWith("svc.yaml: document 3: EndpointSlice ns/good-2: ports[0].name:"),
            p ->
                assertThat(p)
                    .startsWith(
                        "svc.yaml: document 4: Service ns\\n-A INPUT -j ACCEPT/good:"
                            + " metadata.namespace:"));
    assertThat(render(GOOD + bad)).isEqualTo(render(GOOD)).doesNotContain("10.180.0.9");
  }

  @Test
  void parse_controlCharactersAnywhereInAWarning_escaped() {
    ManifestSet set =
        parser.parse("dir/a\nb.yaml", "apiVersion: v1\nkind: \"Con\\u001b[31mfig\\u2028Map\"\n");
    assertThat(set.problems())
        .singleElement()
        .satisfies(
            p ->
                assertThat(p.toString())
                    .isEqualTo(
                        "dir/a\\nb.yaml: document 1: unsupported kind"
                            + " \"v1/Con\\u001b[31mfig\\u2028Map\""));
  }

  @Test
  void parse_fieldsOfTheWrongShape_reportedPerObjectNeverThrown() {
    String text =
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns, name: a}
        spec: {clusterIP: 172.30.0.41, ports: {name: p80, port: 80}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns, name: b}
        spec: {clusterIP: 172.30.0.42, ports: [80]}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: c, labels: {kubernetes.io/service-name: c}}
        endpoints: 5
        ---
        apiVersion: v1
        kind: Service
        metadata: {namespace: [ns], name: {d: 1}}
        spec: []
        ---
        apiVersion: v1
        kind: List
        items: [1]
        """;
    ManifestSet set = parser.parse("f.yaml", text);
    assertThat(set.items()).isEmpty();
    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .containsExactly(
            "f.yaml: document 1: Service ns/a: spec.ports: must be a list",
            "f.yaml: document 2: Service ns/b: spec.ports[0].port: port is missing",
            "f.yaml: document 3: EndpointSlice ns/c: endpoints: must be a list",
            "f.yaml: document 4: Service ?/?: metadata.name: must be a string, not"
                + " \"{\\\"d\\\":1}\"",
            "f.yaml: document 5: not a Kubernetes object (a mapping)");
  }

  // ---- tables ------------------------------------------------------------------------------

  private static final List<String> DNS1123_LABEL_GOOD =
      List.of(
          "a",
          "ab",
          "abc",
          "a1",
          "a-1",
          "a--1--2--b",
          "0",
          "01",
          "012",
          "1a",
          "1-a",
          "1--a--b--2",
          "a".repeat(63));
  private static final List<String> DNS1123_LABEL_BAD =
      List.of(
          "A",
          "ABC",
          "aBc",
          "A1",
          "A-1",
          "1-A",
          "-",
          "a-",
          "-a",
          "1-",
          "-1",
          "_",
          "a_",
          "_a",
          "a_b",
          "1_",
          "_1",
          "1_2",
          ".",
          "a.",
          ".a",
          "a.b",
          "1.",
          ".1",
          "1.2",
          " ",
          "a ",
          " a",
          "a b",
          "1 ",
          " 1",
          "1 2",
          "a".repeat(64),
          "a\n",
          "a\nb");
  private static final List<String> DNS1123_SUBDOMAIN_GOOD =
      List.of(
          "a",
          "ab",
          "abc",
          "a1",
          "a-1",
          "a--1--2--b",
          "0",
          "01",
          "012",
          "1a",
          "1-a",
          "1--a--b--2",
          "a.a",
          "ab.a",
          "abc.a",
          "a1.a",
          "a-1.a",
          "a--1--2--b.a",
          "a.1",
          "ab.1",
          "abc.1",
          "a1.1",
          "a-1.1",
          "a--1--2--b.1",
          "0.a",
          "01.a",
          "012.a",
          "1a.a",
          "1-a.a",
          "0.1",
          "01.1",
          "012.1",
          "1a.1",
          "1-a.1",
          "1--a--b--2.1",
          "a.b.c.d.e",
          "aa.bb.cc.dd.ee",
          "1.2.3.4.5",
          "11.22.33.44.55",
          "a".repeat(253));
  private static final List<String> DNS1123_SUBDOMAIN_BAD =
      List.of(
          "A",
          "ABC",
          "aBc",
          "A1",
          "A-1",
          "1-A",
          "-",
          "a-",
          "-a",
          "1-",
          "-1",
          "_",
          "a_",
          "_a",
          "a_b",
          "1_",
          "_1",
          "1_2",
          ".",
          "a.",
          ".a",
          "a..b",
          "1.",
          ".1",
          "1..2",
          " ",
          "a ",
          " a",
          "a b",
          "1 ",
          " 1",
          "1 2",
          "A.a",
          "aB.a",
          "ab.A",
          "A1.a",
          "a1.A",
          "A.1",
          "aB.1",
          "A1.1",
          "1A.1",
          "0.A",
          "01.A",
          "012.A",
          "1A.a",
          "1a.A",
          "A.B.C.D.E",
          "AA.BB.CC.DD.EE",
          "a.B.c.d.e",
          "aa.bB.cc.dd.ee",
          "a@b",
          "a,b",
          "a;b",
          "a:b",
          "a%b",
          "a?b",
          "a$b",
          "a".repeat(254),
          "a\nb");
  private static final List<String> DNS1035_LABEL_GOOD =
      List.of("a", "ab", "abc", "a1", "a-1", "a--1--2--b", "a".repeat(63));
  private static final List<String> DNS1035_LABEL_BAD =
      List.of(
          "0",
          "01",
          "012",
          "1a",
          "1-a",
          "1--a--b--2",
          "A",
          "ABC",
          "aBc",
          "A1",
          "A-1",
          "1-A",
          "-",
          "a-",
          "-a",
          "1-",
          "-1",
          "_",
          "a_",
          "_a",
          "a_b",
          "1_",
          "_1",
          "1_2",
          ".",
          "a.",
          ".a",
          "a.b",
          "1.",
          ".1",
          "1.2",
          " ",
          "a ",
          " a",
          "a b",
          "1 ",
          " 1",
          "1 2",
          "a".repeat(64),
          "x\n-A INPUT -j ACCEPT\n#");
  private static final List<String> IANA_GOOD =
      List.of("telnet", "re-mail-ck", "pop3", "a", "a-1", "1-a", "a-1-b-2-c", "1-a-2-b-3");
  private static final List<String> IANA_BAD =
      List.of(
          "longerthan15characters",
          "a".repeat(16),
          "12345",
          "1-2-3-4",
          "-begin",
          "end-",
          "two--hyphens",
          "whois++",
          "a\nb");
  private static final List<String> QUALIFIED_GOOD =
      List.of(
          "simple",
          "now-with-dashes",
          "1-starts-with-num",
          "1234",
          "simple/simple",
          "now-with-dashes/simple",
          "now-with-dashes/now-with-dashes",
          "now.with.dots/simple",
          "now-with.dashes-and.dots/simple",
          "1-num.2-num/3-num",
          "1234/5678",
          "1.2.3.4/5678",
          "Uppercase_Is_OK_123",
          "example.com/Uppercase_Is_OK_123",
          "requests.storage-foo",
          "a".repeat(63),
          "a".repeat(253) + "/" + "b".repeat(63));
  private static final List<String> QUALIFIED_BAD =
      List.of(
          "nospecialchars%^=@",
          "cantendwithadash-",
          "-cantstartwithadash-",
          "only/one/slash",
          "Example.com/abc",
          "example_com/abc",
          "example.com/",
          "/simple",
          "a".repeat(64),
          "a".repeat(254) + "/abc",
          "a\nb");
  private static final List<String> LABEL_VALUE_GOOD =
      List.of(
          "simple",
          "now-with-dashes",
          "1-starts-with-num",
          "end-with-num-1",
          "1234",
          "a".repeat(63));
  private static final List<String> LABEL_VALUE_BAD =
      List.of(
          "nospecialchars%^=@",
          "Tama-nui-te-rā.is.Māori.sun",
          "\\backslashes\\are\\bad",
          "-starts-with-dash",
          "ends-with-dash-",
          ".starts.with.dot",
          "ends.with.dot.",
          "a".repeat(64),
          "a\nb");
  // TestIsValidIP's IPv4 and junk rows; leading zeros and IPv4-in-IPv6 are valid upstream. An
  // empty clusterIP is not an error (a Service without one is not proxied), so that row skips "".
  private static final List<String> IPV4_GOOD =
      List.of("1.2.3.4", "0.0.0.0", "255.255.255.255", "1.1.1.01", "::ffff:1.1.1.1");
  private static final List<String> IP_BAD =
      List.of(
          "",
          "aaaaaaa",
          "myhost.mydomain",
          "1.2.3.0/24",
          "1.2.3.400",
          "-1.0.0.0",
          "2001:db8::10005",
          "1.2.3.4:80",
          "[2001:db8::1]",
          "[2001:db8::1]:80",
          "example.com:80",
          "1234::abcd%eth0",
          "169.254.0.0%eth0",
          "1.2.3.4\n-A INPUT -j ACCEPT");
  // TestIsValidCIDR, less "::ffff:1.1.1.0/24" and "/120" (IPv4-in-IPv6 prefixes, not supported).
  private static final List<String> CIDR_GOOD =
      List.of(
          "1.0.0.0/8",
          "0.0.0.0/0",
          "1.1.1.1/32",
          "2001:4860:4860::/48",
          "::/0",
          "::1/128",
          "2a00:79e0:2:0::/64",
          "2001:DB8::/64",
          "1.1.01.0/24",
          "1.2.3.4/24",
          "2001:db8::1/64",
          "192.168.0.0/016");
  private static final List<String> CIDR_BAD =
      List.of(
          "",
          "aaaaaaa",
          "1.2.3.4",
          "192.168.0.1/healthz",
          "192.168.0.1/0/99",
          "192.168.0.0/-16",
          "192.168.0.0/+16",
          "10.0.0.0/33");

  /** A field of a manifest, the way to put a value there, and the path the warning names. */
  private record Field(String name, String path, Consumer<Target> put) {}

  /** A Service and an EndpointSlice to set one field in. */
  private record Target(ObjectNode svc, ObjectNode slice, Object value) {}

  private static ObjectNode service() {
    ObjectNode s = JSON.createObjectNode().put("apiVersion", "v1").put("kind", "Service");
    s.putObject("metadata").put("namespace", "ns").put("name", "svc");
    ObjectNode spec = s.putObject("spec").put("type", "NodePort").put("clusterIP", "172.30.0.41");
    spec.putArray("ports").addObject().put("name", "p80").put("port", 80).put("nodePort", 30001);
    return s;
  }

  private static ObjectNode slice() {
    ObjectNode s =
        JSON.createObjectNode()
            .put("apiVersion", "discovery.k8s.io/v1")
            .put("kind", "EndpointSlice");
    s.putObject("metadata")
        .put("namespace", "ns")
        .put("name", "svc-1")
        .putObject("labels")
        .put("kubernetes.io/service-name", "svc");
    s.put("addressType", "IPv4");
    s.putArray("ports").addObject().put("name", "p80").put("port", 80).put("protocol", "TCP");
    s.putArray("endpoints").addObject().putArray("addresses").add("10.180.0.1");
    return s;
  }

  private static ObjectNode svcPort(Target t) {
    return (ObjectNode) t.svc().path("spec").path("ports").get(0);
  }

  private static ObjectNode endpoint(Target t) {
    return (ObjectNode) t.slice().path("endpoints").get(0);
  }

  private static void set(ObjectNode o, String key, Object v) {
    o.set(key, JSON.valueToTree(v));
  }

  static Stream<Arguments> table() {
    List<Arguments> rows = new ArrayList<>();
    add(
        rows,
        new Field(
            "Service name",
            "metadata.name",
            t -> set((ObjectNode) t.svc().path("metadata"), "name", t.value())),
        DNS1035_LABEL_GOOD,
        DNS1035_LABEL_BAD);
    add(
        rows,
        new Field(
            "Service namespace",
            "metadata.namespace",
            t -> set((ObjectNode) t.svc().path("metadata"), "namespace", t.value())),
        DNS1123_LABEL_GOOD,
        DNS1123_LABEL_BAD);
    add(
        rows,
        new Field(
            "Service port name", "spec.ports[0].name", t -> set(svcPort(t), "name", t.value())),
        DNS1123_LABEL_GOOD,
        DNS1123_LABEL_BAD);
    add(
        rows,
        new Field(
            "Service targetPort name",
            "spec.ports[0].targetPort",
            t -> set(svcPort(t), "targetPort", t.value())),
        IANA_GOOD,
        IANA_BAD);
    add(
        rows,
        new Field(
            "Service label key",
            "metadata.labels",
            t ->
                ((ObjectNode) t.svc().path("metadata"))
                    .putObject("labels")
                    .put((String) t.value(), "v")),
        QUALIFIED_GOOD,
        QUALIFIED_BAD);
    add(
        rows,
        new Field(
            "Service label value",
            "metadata.labels[app]",
            t ->
                ((ObjectNode) t.svc().path("metadata"))
                    .putObject("labels")
                    .put("app", (String) t.value())),
        LABEL_VALUE_GOOD,
        LABEL_VALUE_BAD);
    add(
        rows,
        new Field(
            "Service clusterIP",
            "spec.clusterIP",
            t -> set((ObjectNode) t.svc().path("spec"), "clusterIP", t.value())),
        IPV4_GOOD,
        IP_BAD.subList(1, IP_BAD.size()));
    add(
        rows,
        new Field(
            "Service externalIPs",
            "spec.externalIPs[0]",
            t ->
                ((ObjectNode) t.svc().path("spec"))
                    .putArray("externalIPs")
                    .add((String) t.value())),
        IPV4_GOOD,
        IP_BAD);
    add(
        rows,
        new Field(
            "Service loadBalancer ingress IP",
            "status.loadBalancer.ingress[0].ip",
            t ->
                t.svc()
                    .putObject("status")
                    .putObject("loadBalancer")
                    .putArray("ingress")
                    .addObject()
                    .put("ip", (String) t.value())),
        IPV4_GOOD,
        List.of("1.2.3.400", "1.2.3.4:80", "a\nb"));
    add(
        rows,
        new Field(
            "Service loadBalancerSourceRanges",
            "spec.loadBalancerSourceRanges[0]",
            t ->
                ((ObjectNode) t.svc().path("spec"))
                    .putArray("loadBalancerSourceRanges")
                    .add((String) t.value())),
        CIDR_GOOD,
        CIDR_BAD);
    add(
        rows,
        new Field(
            "Service port protocol",
            "spec.ports[0].protocol",
            t -> set(svcPort(t), "protocol", t.value())),
        List.of("TCP", "UDP", "SCTP"),
        List.of("tcp", "Tcp", "ICMP", "TCP\n", "TCP "));
    add(
        rows,
        new Field("Service port", "spec.ports[0].port", t -> set(svcPort(t), "port", t.value())),
        List.of(1, 2, 1000, 16384, 32768, 65535),
        List.of(0, -1, 65536, 100000, "80", 80.5));
    add(
        rows,
        new Field(
            "Service nodePort",
            "spec.ports[0].nodePort",
            t -> set(svcPort(t), "nodePort", t.value())),
        List.of(1, 2, 1000, 16384, 32768, 65535),
        List.of(-1, 65536, 100000, "30001"));
    add(
        rows,
        new Field(
            "Service healthCheckNodePort",
            "spec.healthCheckNodePort",
            t -> set((ObjectNode) t.svc().path("spec"), "healthCheckNodePort", t.value())),
        List.of(1, 65535),
        List.of(-1, 65536));
    add(
        rows,
        new Field(
            "Service type",
            "spec.type",
            t -> set((ObjectNode) t.svc().path("spec"), "type", t.value())),
        List.of("NodePort", "LoadBalancer"),
        List.of("nodeport", "Foo", "NodePort\n"));
    add(
        rows,
        new Field(
            "EndpointSlice name",
            "metadata.name",
            t -> set((ObjectNode) t.slice().path("metadata"), "name", t.value())),
        DNS1123_SUBDOMAIN_GOOD,
        DNS1123_SUBDOMAIN_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice namespace",
            "metadata.namespace",
            t -> set((ObjectNode) t.slice().path("metadata"), "namespace", t.value())),
        DNS1123_LABEL_GOOD,
        DNS1123_LABEL_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice service-name label",
            "metadata.labels[kubernetes.io/service-name]",
            t ->
                set(
                    (ObjectNode) t.slice().path("metadata").path("labels"),
                    "kubernetes.io/service-name",
                    t.value())),
        LABEL_VALUE_GOOD,
        LABEL_VALUE_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice port name",
            "ports[0].name",
            t -> set((ObjectNode) t.slice().path("ports").get(0), "name", t.value())),
        DNS1123_LABEL_GOOD,
        DNS1123_LABEL_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice port protocol",
            "ports[0].protocol",
            t -> set((ObjectNode) t.slice().path("ports").get(0), "protocol", t.value())),
        List.of("TCP", "UDP", "SCTP"),
        List.of("tcp", "ICMP", "UDP\n"));
    add(
        rows,
        new Field(
            "EndpointSlice port",
            "ports[0].port",
            t -> set((ObjectNode) t.slice().path("ports").get(0), "port", t.value())),
        List.of(1, 65535),
        List.of(0, -1, 65536, "80"));
    add(
        rows,
        new Field(
            "EndpointSlice address",
            "endpoints[0].addresses[0]",
            t -> endpoint(t).putArray("addresses").add((String) t.value())),
        List.of("1.2.3.4", "0.0.0.0", "255.255.255.255", "1.1.1.01"),
        IP_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice nodeName",
            "endpoints[0].nodeName",
            t -> set(endpoint(t), "nodeName", t.value())),
        DNS1123_SUBDOMAIN_GOOD,
        DNS1123_SUBDOMAIN_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice hostname",
            "endpoints[0].hostname",
            t -> set(endpoint(t), "hostname", t.value())),
        DNS1123_LABEL_GOOD,
        DNS1123_LABEL_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice zone", "endpoints[0].zone", t -> set(endpoint(t), "zone", t.value())),
        LABEL_VALUE_GOOD,
        LABEL_VALUE_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice zone hint",
            "endpoints[0].hints.forZones[0].name",
            t ->
                endpoint(t)
                    .putObject("hints")
                    .putArray("forZones")
                    .addObject()
                    .put("name", (String) t.value())),
        LABEL_VALUE_GOOD,
        LABEL_VALUE_BAD);
    add(
        rows,
        new Field(
            "EndpointSlice node hint",
            "endpoints[0].hints.forNodes[0].name",
            t ->
                endpoint(t)
                    .putObject("hints")
                    .putArray("forNodes")
                    .addObject()
                    .put("name", (String) t.value())),
        DNS1123_SUBDOMAIN_GOOD,
        DNS1123_SUBDOMAIN_BAD);
    return rows.stream();
  }

  private static void add(List<Arguments> rows, Field f, List<?> good, List<?> bad) {
    for (Object v : good) {
      rows.add(Arguments.of(f.name(), Printable.shown(String.valueOf(v)), f, v, true));
    }
    for (Object v : bad) {
      rows.add(Arguments.of(f.name(), Printable.shown(String.valueOf(v)), f, v, false));
    }
  }

  @ParameterizedTest(name = "{0} {1} valid={4}")
  @MethodSource("table")
  void parse_fieldValue_acceptedOrSkippedAsTheApiServerWould(
      String fieldName, String shown, Field field, Object value, boolean valid) throws Exception {
    ObjectNode svc = service();
    ObjectNode slice = slice();
    field.put().accept(new Target(svc, slice, value));
    String text = JSON.writeValueAsString(svc) + "\n---\n" + JSON.writeValueAsString(slice) + "\n";

    ManifestSet set = parser.parse("f.json", text);

    if (valid) {
      assertThat(set.problems()).isEmpty();
      assertThat(set.items()).hasSize(2);
    } else {
      assertThat(set.items()).hasSize(1);
      assertThat(set.problems())
          .singleElement()
          .satisfies(
              p -> {
                assertThat(p.reason()).contains(": " + field.path() + ": ");
                assertThat(p.toString()).doesNotContain("\n");
              });
    }
  }
}
