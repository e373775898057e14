package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.testutil.States;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The EndpointSlice annotation endpoints.kubernetes.io/last-change-trigger-time, read as upstream's
 * getLastChangeTriggerTime reads it (time.Parse(time.RFC3339Nano, ...); a bad value is logged and
 * ignored) and carried through the state for the network programming latency.
 */
class LastChangeTriggerTimeTest {
  private static String slice(String name, String annotation) {
    return """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata:
          namespace: ns
          name: %s
          labels: {kubernetes.io/service-name: a}
        %s
        addressType: IPv4
        ports: [{name: p, port: 80}]
        endpoints: [{addresses: [10.1.0.1]}]
        ---
        """
        .formatted(name, annotation == null ? "" : "  annotations: {" + annotation + "}");
  }

  private static final String SERVICE =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns, name: a}
      spec: {clusterIP: 172.30.0.1, ports: [{name: p, port: 80}]}
      ---
      """;

  private static String annotated(String value) {
    return "endpoints.kubernetes.io/last-change-trigger-time: \"" + value + "\"";
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        // The endpoints controller writes RFC3339Nano in UTC.
        "2026-03-01T10:00:00.123456789Z|2026-03-01T10:00:00.123456789Z",
        "2026-03-01T10:00:00Z|2026-03-01T10:00:00Z",
        "2026-03-01T12:00:00.5+02:00|2026-03-01T10:00:00.5Z",
      })
  void endpointSlice_validTriggerTime_readAsAnInstant(String value, String expected) {
    var set = new ManifestParser().parse("t.yaml", slice("a-1", annotated(value)));
    assertThat(set.problems()).isEmpty();
    assertThat(set.slices().get(0).lastChangeTriggerTime()).isEqualTo(Instant.parse(expected));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "yesterday",
        "2026-03-01 10:00:00Z",
        "2026-03-01T10:00Z",
        "2026-13-01T10:00:00Z",
        "2026-03-01T10:00:00",
        "1767225600",
      })
  void endpointSlice_invalidTriggerTime_ignoredAndTheSliceStillUsed(String value) {
    var set = new ManifestParser().parse("t.yaml", slice("a-1", annotated(value)));
    assertThat(set.problems()).isEmpty();
    assertThat(set.slices()).hasSize(1);
    assertThat(set.slices().get(0).endpoints()).hasSize(1);
    assertThat(set.slices().get(0).lastChangeTriggerTime()).isNull();
  }

  @Test
  void endpointSlice_noAnnotation_noTriggerTime() {
    var set = new ManifestParser().parse("t.yaml", slice("a-1", null));
    assertThat(set.slices().get(0).lastChangeTriggerTime()).isNull();
  }

  @Test
  void build_slicesOfOneService_allTheirTimesSortedUnderItsName() {
    ProxyState s =
        States.fromYaml(
            SERVICE
                + slice("a-1", annotated("2026-03-01T10:00:05Z"))
                + slice("a-2", annotated("2026-03-01T10:00:01Z"))
                + slice("a-3", null));
    assertThat(s.lastChangeTriggerTimes())
        .isEqualTo(
            Map.of(
                "ns/a",
                List.of(
                    Instant.parse("2026-03-01T10:00:01Z"), Instant.parse("2026-03-01T10:00:05Z"))));
  }

  @Test
  void equals_statesDifferingOnlyInTriggerTimes_equal() {
    ProxyState a = States.fromYaml(SERVICE + slice("a-1", annotated("2026-03-01T10:00:05Z")));
    ProxyState b = States.fromYaml(SERVICE + slice("a-1", annotated("2026-03-01T10:00:09Z")));
    ProxyState none = States.fromYaml(SERVICE + slice("a-1", null));
    assertThat(a).isEqualTo(b).isEqualTo(none).hasSameHashCodeAs(none);
    assertThat(a.lastChangeTriggerTimes()).isNotEqualTo(b.lastChangeTriggerTimes());
  }

  @TempDir Path dir;

  private final Instant now = Instant.parse("2026-03-01T11:00:00Z");

  private final Clock clock = Clock.fixed(now, ZoneOffset.UTC);

  private int writes;

  /** Writes a file settled long enough to be read, each write with its own modification time. */
  private void write(String name, String content) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, content, StandardCharsets.UTF_8);
    Files.setLastModifiedTime(p, FileTime.from(now.minusSeconds(600 - ++writes)));
  }

  @Test
  void load_oneServiceRebuilt_triggerTimesOfBothKept() throws IOException {
    ManifestSource source = new ManifestSource(dir, clock, d -> {}, Files::readAllBytes);
    write("a.yaml", SERVICE + slice("a-1", annotated("2026-03-01T10:00:01Z")));
    write(
        "b.yaml",
        (SERVICE + slice("b-1", annotated("2026-03-01T10:00:02Z")))
            .replace("name: a}", "name: b}")
            .replace("service-name: a", "service-name: b")
            .replace("172.30.0.1", "172.30.0.2"));
    assertThat(source.load().state().lastChangeTriggerTimes()).containsOnlyKeys("ns/a", "ns/b");

    // Only ns/b's file changes: ns/a is not rebuilt, and keeps its time.
    write(
        "b.yaml",
        (SERVICE + slice("b-1", annotated("2026-03-01T10:00:07Z")))
            .replace("name: a}", "name: b}")
            .replace("service-name: a", "service-name: b")
            .replace("172.30.0.1", "172.30.0.2")
            .replace("10.1.0.1", "10.1.0.2"));
    Map<String, List<Instant>> times = source.load().state().lastChangeTriggerTimes();
    assertThat(times)
        .isEqualTo(
            Map.of(
                "ns/a", List.of(Instant.parse("2026-03-01T10:00:01Z")),
                "ns/b", List.of(Instant.parse("2026-03-01T10:00:07Z"))));
  }
}
