package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.svcproxy.model.Service;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** YAML as YAML says: aliases, merge keys, duplicate keys and objects, one bad document, limits. */
class ManifestYamlTest {
  private final ManifestParser parser = new ManifestParser();

  private static String svc(String name, String ip) {
    return "apiVersion: v1\nkind: Service\nmetadata: {namespace: ns, name: "
        + name
        + "}\nspec: {clusterIP: "
        + ip
        + ", ports: [{name: p80, port: 80}]}\n";
  }

  @Test
  void parse_anchorsAndAliases_resolveToTheAnchoredValues() {
    String text =
        """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Service
          metadata: {namespace: &ns ns, name: a}
          spec:
            clusterIP: 172.30.0.41
            ports: &ports
            - {name: &pn p80, port: 80, protocol: UDP}
        - apiVersion: v1
          kind: Service
          metadata: {namespace: *ns, name: b}
          spec:
            clusterIP: 172.30.0.42
            ports: *ports
        - apiVersion: v1
          kind: Service
          metadata: {namespace: *ns, name: c}
          spec:
            clusterIP: 172.30.0.43
            ports: [{name: *pn, port: 81}]
        """;
    ManifestSet set = parser.parse("f.yaml", text);
    assertThat(set.problems()).isEmpty();
    assertThat(set.services())
        .extracting(s -> s.namespacedName() + " " + s.ports())
        .containsExactly(
            "ns/a [ServicePort[name=p80, port=80, protocol=UDP, nodePort=0]]",
            "ns/b [ServicePort[name=p80, port=80, protocol=UDP, nodePort=0]]",
            "ns/c [ServicePort[name=p80, port=81, protocol=TCP, nodePort=0]]");
  }

  @Test
  void parse_aliasToAnAnchorOfAnotherDocument_isAnError() {
    String text = "a: &x 1\n---\nb: *x\n";
    ManifestSet set = parser.parse("f.yaml", text);
    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .contains("f.yaml: document 2: not valid YAML/JSON: found undefined alias x at line 3");
  }

  @Test
  void parse_mergeKey_explicitKeysWinOverMergedOnes() {
    String text =
        """
        base: &base {type: NodePort, clusterIP: 172.30.0.99, sessionAffinity: ClientIP}
        apiVersion: v1
        kind: Service
        metadata: {namespace: ns, name: a}
        spec:
          <<: *base
          clusterIP: 172.30.0.41
          ports: [{name: p80, port: 80, nodePort: 30080}]
        """;
    ManifestSet set = parser.parse("f.yaml", text);
    assertThat(set.problems()).isEmpty();
    Service s = set.services().get(0);
    assertThat(s.type()).isEqualTo("NodePort");
    assertThat(s.clusterIP()).isEqualTo("172.30.0.41");
    assertThat(s.sessionAffinityClientIP()).isTrue();
  }

  @Test
  void parse_duplicateKey_warnsWithBothLinesAndTheLastValueWins() {
    String text =
        "apiVersion: v1\nkind: Service\nmetadata: {namespace: ns, name: a}\nspec:\n"
            + "  clusterIP: 172.30.0.41\n  ports: [{name: p80, port: 80}]\n  clusterIP: 172.30.0.42\n";
    ManifestSet set = parser.parse("f.yaml", GOOD_FIRST + text);
    assertThat(set.services())
        .extracting(Service::clusterIP)
        .containsExactly("172.30.0.1", "172.30.0.42");
    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .containsExactly(
            "f.yaml: document 2: duplicate key \"clusterIP\" at line 12 (first at line 10);"
                + " the last value is used");
  }

  private static final String GOOD_FIRST = svc("first", "172.30.0.1") + "---\n";

  @Test
  void parse_sameObjectTwice_firstWinsAndTheOtherIsReportedWithBothPlaces() {
    String text =
        svc("a", "172.30.0.41")
            + "---\n"
            + svc("b", "172.30.0.42")
            + "---\n"
            + svc("a", "172.30.0.43");
    ManifestSet set = parser.parse("f.yaml", text);
    assertThat(set.services())
        .extracting(s -> s.name() + " " + s.clusterIP())
        .containsExactly("a 172.30.0.41", "b 172.30.0.42");
    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .containsExactly(
            "f.yaml: document 3: Service ns/a: duplicate of the one at f.yaml: document 1, which"
                + " is used; this one is ignored");
  }

  @Test
  void parse_brokenDocumentInTheMiddle_laterDocumentsStillRead() {
    String text = svc("a", "172.30.0.41") + "---\nkind: [unclosed\n---\n" + svc("b", "172.30.0.42");
    ManifestSet set = parser.parse("f.yaml", text);
    assertThat(set.services()).extracting(Service::name).containsExactly("a", "b");
    assertThat(set.unreadable()).isTrue();
    assertThat(set.problems())
        .singleElement()
        .satisfies(p -> assertThat(p.toString()).startsWith("f.yaml: document 2: not valid YAML"));
  }

  @Test
  void parse_recursiveAlias_reportedNotLooping() {
    ManifestSet set =
        assertTimeoutPreemptively(
            Duration.ofSeconds(20), () -> parser.parse("f.yaml", "a: &a [1, *a]\n"));
    assertThat(set.problems())
        .singleElement()
        .satisfies(p -> assertThat(p.reason()).contains("recursive alias"));
  }

  @Test
  void parse_billionLaughs_rejectedQuickly() {
    StringBuilder b = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++) {
      b.append("a").append(i).append(": &a").append(i).append(" [");
      for (int j = 0; j < 10; j++) {
        b.append(j == 0 ? "" : ", ").append("*a").append(i - 1);
      }
      b.append("]\n");
    }
    ManifestSet set =
        assertTimeoutPreemptively(
            Duration.ofSeconds(20), () -> parser.parse("f.yaml", b.toString()));
    assertThat(set.unreadable()).isTrue();
    assertThat(set.items()).isEmpty();
  }

  /**
   * A single absurdly long value is rejected, and in linear time: SnakeYAML alone needs minutes for
   * 20 MB because it is quadratic in a token's length (6 s for 8 MB here, 582 s for 50 MB). Not a
   * timing test: the bound only guards against that blow-up coming back.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"plain", "quoted", "comment", "manyLines"})
  void parse_twentyMegabyteValue_rejectedWithAWarningWithoutQuadraticTime(String shape) {
    int n = 20 * 1024 * 1024;
    String huge =
        switch (shape) {
          case "plain" -> "metadata: {name: " + "a".repeat(n) + "}\n";
          case "quoted" -> "metadata: {name: \"" + "a".repeat(n) + "\"}\n";
          case "comment" -> "# " + "a ".repeat(n / 2) + "\n";
          default -> "annotations:\n" + "  k: v\n".repeat(n / 7);
        };
    String text = svc("a", "172.30.0.41") + "---\napiVersion: v1\nkind: Service\n" + huge;
    ManifestSet set =
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> parser.parse("f.yaml", text));
    assertThat(set.services()).extracting(Service::name).containsExactly("a");
    assertThat(set.problems())
        .singleElement()
        .satisfies(
            p ->
                assertThat(p.toString())
                    .startsWith("f.yaml: document 2: not valid YAML/JSON: ")
                    .contains("too l")
                    .contains("limit"));
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"plain", "quoted", "comment", "manyLines"})
  void parse_twentyMegabyteDocument_namesTheDocumentSizeLimit(String shape) {
    int n = 20 * 1024 * 1024;
    String text =
        switch (shape) {
          case "plain" -> "name: " + "a".repeat(n);
          case "quoted" -> "name: \"" + "a".repeat(n) + "\"";
          case "comment" -> "a: 1\n# " + "a ".repeat(n / 2);
          default -> "k: v\n".repeat(n / 5);
        };
    ManifestSet set =
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> parser.parse("f.yaml", text));
    assertThat(set.problems())
        .extracting(ManifestProblem::reason)
        .singleElement()
        .asString()
        .startsWith("not valid YAML/JSON: document is too large: ")
        .endsWith(", more than the limit of " + YamlDocuments.MAX_DOCUMENT_CHARS);
  }

  @Test
  void parse_lineLongerThanTheLineLimit_rejectedBeforeParsing() {
    String text = "a: 1\n# " + "a ".repeat(YamlDocuments.MAX_LINE_CHARS / 2) + "\n";
    ManifestSet set =
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> parser.parse("f.yaml", text));
    assertThat(set.problems())
        .extracting(ManifestProblem::reason)
        .containsExactly(
            "not valid YAML/JSON: line 2 is too long: "
                + (YamlDocuments.MAX_LINE_CHARS + 2)
                + " characters, more than the limit of "
                + YamlDocuments.MAX_LINE_CHARS);
  }

  @Test
  void parse_longLinesOverTheFileBudget_laterDocumentRejectedBeforeParsing() {
    String line = "# " + "a".repeat(100 * 1024) + "\n";
    String text = "a: 1\n" + line + "---\nb: 2\n---\nc: 3\n" + line;
    ManifestSet set =
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> parser.parse("f.yaml", text));
    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .filteredOn(p -> p.contains("not valid YAML"))
        .singleElement()
        .asString()
        .startsWith(
            "f.yaml: document 3: not valid YAML/JSON: too many long lines: with this document's 1"
                + " lines of more than 4096 characters, the file's long lines add up to more than"
                + " the limit");
  }

  @Test
  void parse_moreDocumentsThanTheLimit_theRestGetOneWarning() {
    String text =
        svc("a", "172.30.0.41")
            + "---\n".repeat(YamlDocuments.MAX_DOCUMENTS)
            + svc("b", "172.30.0.42");
    ManifestSet set =
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> parser.parse("f.yaml", text));
    assertThat(set.services()).extracting(Service::name).containsExactly("a");
    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .containsExactly(
            "f.yaml: document "
                + (YamlDocuments.MAX_DOCUMENTS + 1)
                + ": not valid YAML/JSON: too many documents: only the first "
                + YamlDocuments.MAX_DOCUMENTS
                + " of a file are read");
  }

  @Test
  void parse_conditionsAsYamlBooleans_readAsKubectlReadsThem() {
    String text =
        """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: a-1, labels: {kubernetes.io/service-name: a}}
        addressType: IPv4
        ports: [{name: p80, port: 80, protocol: TCP}]
        endpoints:
        - {addresses: [10.0.0.1], conditions: {ready: no, serving: yes, terminating: on}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: ns, name: a-2, labels: {kubernetes.io/service-name: a}}
        addressType: IPv4
        ports: [{name: p80, port: 80, protocol: TCP}]
        endpoints:
        - {addresses: [10.0.0.2], conditions: {ready: "false"}}
        """;
    ManifestSet set = parser.parse("f.yaml", text);
    assertThat(set.slices().get(0).endpoints())
        .extracting(e -> e.ready() + " " + e.serving() + " " + e.terminating())
        .containsExactly("false true true");
    assertThat(set.problems())
        .extracting(ManifestProblem::toString)
        .containsExactly(
            "f.yaml: document 2: EndpointSlice ns/a-2: endpoints[0].conditions.ready: must be a"
                + " boolean, not \"\\\"false\\\"\"");
  }
}
