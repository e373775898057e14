package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Audit 12 #6 and #4: a bundle with nothing readable is bad input (exit 2), not a clean node; a
 * file that is empty though its command always prints something, or a directory under a bundle
 * file's name, is a warning naming it; control characters of bundle files never reach the terminal
 * raw (U+FFFD, as for pasted text).
 */
class DoctorUnusableBundleTest {
  @TempDir Path bundle;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int doctor() {
    return Main.execute(
        new String[] {"doctor", "--bundle", bundle.toString()},
        new PrintWriter(out, true),
        new PrintWriter(err, true));
  }

  @Test
  void emptyDirectory_exitsTwo_nothingReadable() {
    assertThat(doctor()).isEqualTo(2);
    assertThat(err.toString()).contains("nothing readable (the directory is empty)");
    assertThat(out.toString()).isEmpty();
  }

  @Test
  void everyFileEmpty_exitsTwo_namesThem() throws Exception {
    // The audit's m13: each file 0 bytes. Before: "no findings", exit 0.
    Files.writeString(bundle.resolve("iptables-save.txt"), "");
    Files.writeString(bundle.resolve("ipset-save.txt"), "");
    Files.writeString(bundle.resolve("sysctl.txt"), "");
    assertThat(doctor()).isEqualTo(2);
    assertThat(err.toString())
        .contains("nothing readable (every file is empty or unreadable: ")
        .contains("ipset-save.txt, iptables-save.txt, sysctl.txt");
  }

  @Test
  void emptyProxyProcessFile_meansNoProxyRuns_notALostFile() throws Exception {
    // The capture writes proxy-process.txt empty when it looked and found no proxy: with a dead
    // proxy's KUBE-SERVICES still in nat, that is kube-proxy-not-running (ProxyRulesCheck), not
    // a file lost on its way (read as missing, the finding was gone: CaptureProxyProcessTest).
    Files.writeString(
        bundle.resolve("iptables-save.txt"),
        "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n"
            + "-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n");
    Files.writeString(bundle.resolve("proxy-process.txt"), "");
    assertThat(doctor()).isEqualTo(1);
    assertThat(out.toString())
        .contains("kube-proxy-not-running")
        .doesNotContain("proxy-process.txt: empty");
  }

  @Test
  void emptyAddrJson_andDirectoryAsFile_warnedByName() throws Exception {
    // `ip -j addr` prints at least lo, so an empty ip-addr.json was lost (the audit's m07: it
    // read as "no ip-addr.json" with no warning); a directory named iptables-save.txt (m12) was
    // skipped silently. sysctl.txt holds something: the rest of the bundle is read.
    Files.writeString(bundle.resolve("ip-addr.json"), "");
    Files.createDirectory(bundle.resolve("iptables-save.txt"));
    Files.writeString(bundle.resolve("sysctl.txt"), "net.ipv4.ip_forward = 1\n");
    assertThat(doctor()).isZero();
    assertThat(out.toString())
        .contains("ip-addr.json: empty, though `ip addr` always prints something")
        .contains("iptables-save.txt: a directory, not a file: not read");
  }

  @Test
  void controlCharactersOfBundleFiles_replaced_lineNamed() throws Exception {
    // The audit's m17: ESC sequences and BEL in iptables-save.txt reached the terminal in the
    // warnings that quote the lines. Line 2 holds the ESC; line 3 the BEL.
    Files.writeString(
        bundle.resolve("iptables-save.txt"),
        "*nat\n:KUBE-SERVICES - [0:0]\u001b[2J\n-A KUBE-SERVICES -j RETURN\u0007 x\nCOMMIT\n");
    Files.writeString(bundle.resolve("sysctl.txt"), "net.ipv4.ip_forward = 1\n");
    doctor();
    String text = out.toString() + err;
    assertThat(text).doesNotContain("\u001b").doesNotContain("\u0007");
    assertThat(out.toString())
        .contains("iptables-save.txt:2: control characters or bytes that are not UTF-8, replaced")
        .contains("iptables-save.txt:3: control characters or bytes that are not UTF-8, replaced");
  }
}
