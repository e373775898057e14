package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
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
    assertThat(
            run(
                "doctor",
                "--bundle",
                bundle.toString(),
                "--dst",
                "10.96.0.1:80",
                "--sport",
                "70000"))
        .isEqualTo(2);
    assertThat(
            run(
                "doctor",
                "--bundle",
                bundle.toString(),
                "--dst",
                "10.96.0.1:80",
                "--in-iface",
                "../etc"))
        .isEqualTo(2);
    assertThat(out.toString()).isEmpty();
  }

  private static final String PASTE =
      """
      $ iptables -t nat -L KUBE-SERVICES -n
      Chain KUBE-SERVICES (2 references)
      target     prot opt source               destination
      KUBE-SVC-NPX46M4PTMTKRN6Y  tcp  --  0.0.0.0/0            10.96.0.1            tcp dpt:443
      $ sysctl net.ipv4.ip_forward
      net.ipv4.ip_forward = 0
      """;

  @Test
  void paste_file_findingCitesPastedLine() throws Exception {
    Path f = bundle.resolve("issue.txt");
    Files.writeString(f, PASTE);
    assertThat(run("doctor", "--paste", f.toString())).isEqualTo(1);
    assertThat(out.toString())
        .contains("error   ip-forward-off: ")
        .contains(f + ":6: net.ipv4.ip_forward = 0");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void paste_stdin_readOnce() throws Exception {
    java.io.InputStream saved = System.in;
    try {
      System.setIn(new java.io.ByteArrayInputStream(PASTE.getBytes(StandardCharsets.UTF_8)));
      assertThat(run("doctor", "--paste", "-", "-o", "json")).isEqualTo(1);
      var j = new ObjectMapper().readTree(out.toString());
      assertThat(j.get("findings").get(0).get("evidence").get(0).get("where").asText())
          .isEqualTo("<stdin>:6");
      assertThat(run("doctor", "--paste", "-", "-")).isEqualTo(2);
      assertThat(err.toString()).contains("standard input given twice");
    } finally {
      System.setIn(saved);
    }
  }

  @Test
  void paste_badInput_exitsTwoNamingIt() {
    assertThat(run("doctor", "--paste", bundle.resolve("nope").toString())).isEqualTo(2);
    assertThat(err.toString()).contains("nope: no such readable file");
    assertThat(run("doctor", "--paste", bundle.toString())).isEqualTo(2);
    assertThat(err.toString()).contains("a directory (use --bundle DIR");
    assertThat(run("doctor", "--paste", "x", "--bundle", bundle.toString())).isEqualTo(2);
    assertThat(out.toString()).isEmpty();
  }

  @Test
  void bundle_fileUnderAnyName_isRead() throws Exception {
    Files.writeString(bundle.resolve("what-i-saw.log"), PASTE);
    assertThat(run("doctor", "--bundle", bundle.toString())).isEqualTo(1);
    assertThat(out.toString()).contains(bundle.resolve("what-i-saw.log") + ":6: ");
  }

  @Test
  void kubeconfigAndManifests_excludeEachOther() throws Exception {
    Files.writeString(bundle.resolve("kc"), "apiVersion: v1\nkind: Config\n");
    assertThat(
            run(
                "doctor",
                "--bundle",
                bundle.toString(),
                "--kubeconfig",
                bundle.resolve("kc").toString(),
                "--manifests",
                bundle.toString()))
        .isEqualTo(2);
    assertThat(err.toString()).contains("--manifests and --kubeconfig exclude each other");
  }
}
