package dev.svcproxy.kernel.ipvs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The readers of IpvsKernel on the tools' real output (ipvsadm 1.31, grep, in the VM). */
class IpvsKernelTest {

  // `ipvsadm -Ln` in the VM (ipvsadm v1.31, Debian's 6.1 kernel), with the trailing blanks it
  // prints; one connection count changed by hand to tell the columns apart.
  private static final String LISTING =
      "IP Virtual Server version 1.2.1 (size=4096)\n"
          + "Prot LocalAddress:Port Scheduler Flags\n"
          + "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
          + "TCP  10.96.0.1:443 rr\n"
          + "  -> 10.244.1.5:8443              Masq    1      0          0         \n"
          + "TCP  10.96.0.12:80 rr persistent 10800\n"
          + "  -> 10.244.1.8:80                Route   0      2          5         \n"
          + "UDP  10.96.0.14:53 rr ops\n"
          + "SCTP 10.96.0.11:9999 sh (sh-fallback,sh-port)\n"
          + "FWM  7 wrr\n"
          + "  -> 10.244.1.7:0                 Masq    3      0          0         \n";

  @Test
  void parseConnections_realListing_sumsActiveAndInactivePerRealServer() {
    assertThat(IpvsKernel.parseConnections(LISTING))
        .isEqualTo(
            Map.of(
                "TCP 10.96.0.1:443/10.244.1.5:8443", 0,
                "TCP 10.96.0.12:80/10.244.1.8:80", 7,
                "FWM 7/10.244.1.7:0", 0));
  }

  @Test
  void sysctls_grepOutputWithAMissingFile_readsTheOthers() {
    RecordingCommandRunner r =
        new RecordingCommandRunner(
            c ->
                new CommandResult(
                    c.argv(),
                    2,
                    "/proc/sys/net/ipv4/vs/conntrack:0\n/proc/sys/net/ipv4/ip_forward:1\n",
                    ""));
    Map<String, String> got =
        new IpvsKernel(r)
            .sysctls(
                List.of(
                    "net/ipv4/vs/conntrack", "net/ipv4/vs/conn_reuse_mode", "net/ipv4/ip_forward"));
    assertThat(got)
        .containsExactly(
            Map.entry("net/ipv4/vs/conntrack", "0"), Map.entry("net/ipv4/ip_forward", "1"));
    assertThat(r.calls().get(0).argv())
        .containsExactly(
            "grep",
            "-s",
            "-H",
            "-m",
            "1",
            "^",
            "/proc/sys/net/ipv4/vs/conntrack",
            "/proc/sys/net/ipv4/vs/conn_reuse_mode",
            "/proc/sys/net/ipv4/ip_forward");
  }

  @Test
  void timeouts_realOutput_readsThree() {
    // `ipvsadm -l --timeout` in the VM.
    RecordingCommandRunner r =
        new RecordingCommandRunner(
            c -> new CommandResult(c.argv(), 0, "Timeout (tcp tcpfin udp): 900 120 300\n", ""));
    assertThat(new IpvsKernel(r).timeouts().orElseThrow()).containsExactly(900, 120, 300);
  }
}
