package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DoctorCommandTest {
  @TempDir Path bundle;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  @Test
  void finding_exitsOne_textNamesItWithEvidence() throws Exception {
    Files.writeString(bundle.resolve("sysctl.txt"), "net.ipv4.ip_forward = 0\n");
    assertThat(run("doctor", "--bundle", bundle.toString())).isEqualTo(1);
    assertThat(out.toString())
        .contains("error   ip-forward-off: ")
        .contains("sysctl.txt:1: net.ipv4.ip_forward = 0")
        .contains("fix: sysctl -w net.ipv4.ip_forward=1");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void json_isOneDocumentOnStdout() throws Exception {
    Files.writeString(bundle.resolve("sysctl.txt"), "net.ipv4.ip_forward = 0\n");
    assertThat(run("doctor", "--bundle", bundle.toString(), "-o", "json")).isEqualTo(1);
    var j = new ObjectMapper().readTree(out.toString());
    assertThat(j.get("findings").get(0).get("id").asText()).isEqualTo("ip-forward-off");
  }

  @Test
  void badInput_exitsTwo() {
    assertThat(run("doctor", "--bundle", bundle.resolve("nope").toString())).isEqualTo(2);
    assertThat(run("doctor", "--bundle", bundle.toString(), "--dst", "10.96.0.1")).isEqualTo(2);
    assertThat(run("doctor", "--bundle", bundle.toString(), "--src", "10.0.0.1")).isEqualTo(2);
    assertThat(run("doctor", "--bundle", bundle.toString(), "--netns", "x")).isEqualTo(2);
    assertThat(run("doctor", "--bundle", bundle.toString(), "-o", "yaml")).isEqualTo(2);
    assertThat(out.toString()).isEmpty();
  }
}
