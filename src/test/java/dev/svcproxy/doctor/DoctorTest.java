package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.trace.PacketSpec;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class DoctorTest {
  private static final Catalogue.Entry A =
      new Catalogue.Entry("test-a", Severity.WARNING, "a", List.of("seed 000"));
  private static final Catalogue.Entry B =
      new Catalogue.Entry("test-b", Severity.ERROR, "b", List.of());

  /** A check that reports what it is given. */
  private record Fixed(List<Catalogue.Entry> entries, List<Finding> findings) implements Check {
    @Override
    public List<Finding> run(DoctorContext ctx) {
      return findings;
    }
  }

  private static Finding of(Catalogue.Entry e) {
    return e.finding("s", List.of(Evidence.at("f.txt", 3, "x")), "why", "fix");
  }

  private static DoctorInput empty() {
    return DoctorInputs.files(Map.of(), Optional.empty());
  }

  @Test
  void catalogue_duplicateId_isRefused() {
    Check one = new Fixed(List.of(A), List.of());
    Check two = new Fixed(List.of(A), List.of());
    assertThatThrownBy(() -> new Doctor(List.of(one, two)))
        .hasMessageContaining("duplicate catalogue id test-a");
  }

  @Test
  void standardCatalogue_idsAreUniqueKebabCase() {
    List<Catalogue.Entry> all = Catalogue.of(Checks.all());
    assertThat(all)
        .extracting(Catalogue.Entry::id)
        .doesNotHaveDuplicates()
        .contains("ip-forward-off");
    assertThat(all).allSatisfy(e -> assertThat(e.id()).matches("[a-z0-9]+(-[a-z0-9]+)*"));
  }

  @Test
  void standardCatalogue_everyIdIsDocumentedInTheReadmesDoctorSection() throws Exception {
    String readme = java.nio.file.Files.readString(java.nio.file.Path.of("README.md"));
    int from = readme.indexOf("\n## Doctor\n");
    int to = readme.indexOf("\n## ", from + 1);
    String section = readme.substring(from, to);
    assertThat(Catalogue.of(Checks.all()))
        .extracting(Catalogue.Entry::id)
        .allSatisfy(id -> assertThat(section).contains(id));
  }

  @Test
  void entry_rejectsNonKebabId() {
    assertThatThrownBy(() -> new Catalogue.Entry("Bad_Id", Severity.INFO, "t", List.of()))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void examine_throwingCheck_isAWarningAndOthersStillReport() {
    Check bad =
        new Check() {
          @Override
          public List<Catalogue.Entry> entries() {
            return List.of(B);
          }

          @Override
          public List<Finding> run(DoctorContext ctx) {
            throw new IllegalStateException("boom");
          }
        };
    DoctorReport r =
        new Doctor(List.of(bad, new Fixed(List.of(A), List.of(of(A))))).examine(empty());
    assertThat(r.findings()).extracting(Finding::id).containsExactly("test-a");
    assertThat(r.warnings()).anyMatch(w -> w.contains("boom"));
  }

  @Test
  void examine_findingOutsideItsEntries_isAWarning() {
    DoctorReport r = new Doctor(List.of(new Fixed(List.of(A), List.of(of(B))))).examine(empty());
    assertThat(r.findings()).isEmpty();
    assertThat(r.warnings()).anyMatch(w -> w.contains("test-b, not among its entries"));
  }

  @Test
  void examine_ordersBySeverity_errorsFirst() {
    Check c = new Fixed(List.of(A, B), List.of(of(A), of(B)));
    DoctorReport r = new Doctor(List.of(c)).examine(empty());
    assertThat(r.findings()).extracting(Finding::id).containsExactly("test-b", "test-a");
  }

  @Test
  void ipForwardOff_citesTheSysctlLine() {
    DoctorInput in =
        DoctorInputs.files(
            Map.of("sysctl.txt", "net.ipv4.conf.all.rp_filter = 0\nnet.ipv4.ip_forward = 0\n"),
            Optional.empty());
    DoctorReport r = Doctor.standard().examine(in);
    assertThat(r.findings())
        .filteredOn(f -> f.id().equals("ip-forward-off"))
        .singleElement()
        .satisfies(
            f ->
                assertThat(f.evidence())
                    .containsExactly(new Evidence("sysctl.txt:2", "net.ipv4.ip_forward = 0")));
  }

  @Test
  void ipForwardOn_noFinding() {
    DoctorInput in =
        DoctorInputs.files(Map.of("sysctl.txt", "net.ipv4.ip_forward = 1\n"), Optional.empty());
    assertThat(Doctor.standard().examine(in).findings())
        .noneMatch(f -> f.id().equals("ip-forward-off"));
  }

  @Test
  void noSysctls_isAssumedAndConfidenceDrops() {
    DoctorReport r =
        Doctor.standard()
            .examine(
                DoctorInputs.files(
                    Map.of("iptables-save.txt", "*filter\nCOMMIT\n"), Optional.empty()));
    assertThat(r.findings()).noneMatch(f -> f.id().equals("ip-forward-off"));
    assertThat(r.assumptions()).anyMatch(a -> a.contains("ip_forward"));
    // No addresses and no routes: every trace would guess.
    assertThat(r.confidence()).isEqualTo(DoctorReport.Confidence.LOW);
  }

  @Test
  void json_fieldNamesAreTheContract() throws Exception {
    DoctorInput in =
        DoctorInputs.files(Map.of("sysctl.txt", "net.ipv4.ip_forward = 0\n"), Optional.empty())
            .withPacket(new PacketSpec("10.0.0.1", 40000, "10.96.0.1", 443, "tcp", null));
    JsonNode j = new ObjectMapper().readTree(DoctorFormatter.json(Doctor.standard().examine(in)));
    assertThat(names(j)).containsSubsequence("findings", "trace", "warnings");
    JsonNode f = j.get("findings").get(0);
    assertThat(names(f))
        .containsExactly(
            "id", "severity", "summary", "evidence", "explanation", "fix", "references");
    assertThat(f.get("severity").asText()).isEqualTo("error");
    assertThat(names(f.get("evidence").get(0))).containsExactly("where", "text");
    assertThat(j.get("trace").get("packet").get("dst").asText()).isEqualTo("10.96.0.1");
    assertThat(j.get("confidence").asText()).isIn("high", "medium", "low");
  }

  private static List<String> names(JsonNode n) {
    List<String> out = new ArrayList<>();
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      out.add(it.next());
    }
    return out;
  }
}
