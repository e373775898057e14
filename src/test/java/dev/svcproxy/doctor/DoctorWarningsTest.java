package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.trace.PacketSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * {@code warnings} are problems with the input (lines not read, prose, truncated kubectl tables,
 * rules the tracer could not apply); what was assumed for missing input is an assumption, listed
 * once, whether or not a packet is traced.
 */
class DoctorWarningsTest {
  private static final PacketSpec PACKET =
      new PacketSpec("10.0.0.1", 40000, "10.96.0.1", 443, "tcp", null);

  private static int count(String haystack, String needle) {
    int n = 0;
    for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) {
      n++;
    }
    return n;
  }

  @Test
  void tracedPacket_bundleNotesAreAssumptionsNotWarnings() throws Exception {
    // A bundle of sysctl.txt alone: the reader notes the missing files ("no ip-addr.json: ...").
    DoctorInput in =
        DoctorInputs.files(Map.of("sysctl.txt", "net.ipv4.ip_forward = 0\n"), Optional.empty());
    List<String> notes = in.node().notes();
    assertThat(notes).anyMatch(n -> n.startsWith("no ip-addr.json"));
    DoctorReport r = Doctor.standard().examine(in.withPacket(PACKET));
    assertThat(r.assumptions()).containsAll(notes);
    assertThat(r.warnings()).doesNotContainAnyElementsOf(notes);
    // The same with and without the packet: the trace adds no input problem here; its own
    // "no --in-iface: assumed ..." is an assumption too.
    assertThat(r.warnings()).isEqualTo(Doctor.standard().examine(in).warnings());
    assertThat(r.assumptions()).anyMatch(a -> a.startsWith("no --in-iface: assumed"));
    JsonNode j = new ObjectMapper().readTree(DoctorFormatter.json(r));
    List<String> jw = new ArrayList<>();
    j.get("warnings").forEach(w -> jw.add(w.asText()));
    assertThat(jw).noneMatch(w -> w.startsWith("no ") && w.contains(".json"));
    // The text prints each note once (not under the trace, "assumed:" and "warnings:" again).
    String text = DoctorFormatter.text(r);
    for (String n : notes) {
      assertThat(count(text, n)).as(n).isEqualTo(1);
    }
  }

  @Test
  void pastedProseAndTruncatedTable_areWarnings_pastedReadNotesAreAssumptions() {
    String text =
        """
        I think the service is broken, here is what I see:

        $ kubectl get ep -o wide
        NAME   ENDPOINTS                                     AGE
        web    10.244.1.5:8080,10.244.2.7:8080 + 3 more...   1d
        $ ip route
        default via 10.0.0.254 dev eth0
        """;
    DoctorInput in =
        DoctorInputs.paste(List.of(new PastedInput.Source("i.txt", text)), Optional.empty());
    DoctorReport r = Doctor.standard().examine(in.withPacket(PACKET));
    assertThat(r.warnings())
        .anyMatch(w -> w.startsWith("i.txt:1: not recognised"))
        .anyMatch(w -> w.startsWith("i.txt:5: kubectl showed only some"))
        .noneMatch(w -> w.contains("read as pasted"))
        .noneMatch(w -> w.startsWith("no "));
    assertThat(r.assumptions()).anyMatch(a -> a.startsWith("i.txt:6-7: read as pasted `ip route`"));
    String out = DoctorFormatter.text(r);
    assertThat(count(out, "no iptables-save.txt: no iptables rules")).isEqualTo(1);
  }

  @Test
  void traceProblem_ruleTheTracerCannotApply_staysAWarning() {
    // A target the tracer does not know is a problem met while tracing, not an assumption.
    String save =
        """
        *nat
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j FROBNICATE
        COMMIT
        """;
    DoctorInput in = DoctorInputs.files(Map.of("iptables-save.txt", save), Optional.empty());
    DoctorReport r = Doctor.standard().examine(in.withPacket(PACKET));
    assertThat(r.trace().warnings()).anyMatch(w -> w.contains("FROBNICATE"));
    assertThat(r.warnings()).anyMatch(w -> w.contains("FROBNICATE"));
    assertThat(r.assumptions()).noneMatch(w -> w.contains("FROBNICATE"));
  }
}
