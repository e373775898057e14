package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --format html} (and {@code -o html}) of trace and doctor: one page on stdout. */
class HtmlFormatCommandTest {
  @TempDir Path bundle;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
  }

  private void writeBundle() throws Exception {
    Files.writeString(
        bundle.resolve("iptables-save.txt"),
        "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 10.96.0.99/32 -p tcp -j REJECT\nCOMMIT\n");
    Files.writeString(
        bundle.resolve("ip-addr.txt"),
        "2: eth0: <BROADCAST,UP> mtu 1500\n    inet 192.168.1.10/24 scope global eth0\n");
    Files.writeString(
        bundle.resolve("ip-route.txt"),
        "default via 192.168.1.1 dev eth0\n192.168.1.0/24 dev eth0 scope link src 192.168.1.10\n");
  }

  @Test
  void trace_formatHtml_printsOnePageAndKeepsTheExitCode() throws Exception {
    writeBundle();
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--dst",
                "10.96.0.99:80",
                "--format",
                "html"))
        .isEqualTo(1);
    String page = out.toString();
    assertThat(page).startsWith("<!DOCTYPE html>").endsWith("</html>\n");
    assertThat(page).contains("filter OUTPUT #1").contains("iptables-save.txt:3");
    assertThat(err.toString()).isEmpty();
    out.getBuffer().setLength(0);
    assertThat(run("trace", "--bundle", bundle.toString(), "--dst", "10.96.0.99:80", "-o", "html"))
        .isEqualTo(1);
    assertThat(out.toString()).isEqualTo(page);
  }

  @Test
  void doctor_formatHtml_printsThePageWithTheFinding() throws Exception {
    writeBundle();
    Files.writeString(bundle.resolve("sysctl.txt"), "net.ipv4.ip_forward = 0\n");
    assertThat(run("doctor", "--bundle", bundle.toString(), "--format", "html")).isEqualTo(1);
    assertThat(out.toString())
        .startsWith("<!DOCTYPE html>")
        .contains("<code>ip-forward-off</code>")
        .contains("sysctl.txt:1");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void formats_unknown_exitTwoNamingTheChoices() throws Exception {
    writeBundle();
    assertThat(
            run(
                "trace",
                "--bundle",
                bundle.toString(),
                "--dst",
                "10.96.0.99:80",
                "--format",
                "pdf"))
        .isEqualTo(2);
    assertThat(run("doctor", "--bundle", bundle.toString(), "--format", "pdf")).isEqualTo(2);
    assertThat(err.toString()).contains("text, json or html");
    assertThat(out.toString()).isEmpty();
  }
}
