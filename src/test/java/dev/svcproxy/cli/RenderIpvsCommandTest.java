package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.render.ipvs.IpvsText;
import dev.svcproxy.testutil.States;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** `render --mode ipvs` through the command line. */
class RenderIpvsCommandTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private static String input() throws URISyntaxException {
    return Path.of(RenderIpvsCommandTest.class.getResource("/golden/ipvs/input.yaml").toURI())
        .toString();
  }

  private int run(List<String> extra) throws URISyntaxException {
    List<String> args =
        new ArrayList<>(
            List.of(
                "render",
                "--mode",
                "ipvs",
                "--manifests",
                input(),
                "--node-name",
                "test-node",
                "--node-ip",
                "192.168.0.2"));
    args.addAll(extra);
    return Main.execute(
        args.toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(err, true));
  }

  @Test
  void render_goldenFlags_printsTheHandWrittenGolden() throws Exception {
    // The flags that give GoldenIpvsRenderTest's node and options (golden/ipvs/README.md).
    int code =
        run(
            List.of(
                "--cluster-cidr",
                "10.244.0.0/16",
                "--local-addresses",
                "192.168.0.2,127.0.0.1,10.0.0.2",
                "--kernel-version",
                "5.4.0-150-generic",
                "--kernel-capabilities",
                "random-fully",
                "--ipvs-strict-arp",
                "--ipvs-tcp-timeout",
                "2h",
                "--ipvs-udp-timeout",
                "30s"));
    assertThat(err.toString()).isEmpty();
    assertThat(code).isEqualTo(0);
    assertThat(out.toString()).isEqualTo(States.resource("/golden/ipvs/expected.txt"));
  }

  @Test
  void render_masqueradeAllAndNewKernel_allVariantAndNoConnReuse() throws Exception {
    // --masquerade-all writes the KUBE-CLUSTER-IP rule without a source match; a 6.1 kernel gets
    // no conn_reuse_mode (upstream leaves it as-is from 5.9); no timeout, no ipvsadm --set.
    int code =
        run(
            List.of(
                "--masquerade-all",
                "--cluster-cidr",
                "10.244.0.0/16",
                "--local-addresses",
                "192.168.0.2",
                "--kernel-version",
                "6.1.0",
                "--kernel-capabilities",
                "none"));
    assertThat(code).isEqualTo(0);
    String text = out.toString();
    assertThat(IpvsText.section(text, IpvsText.IPTABLES))
        .contains(
            "-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for"
                + " masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j"
                + " KUBE-MARK-MASQ")
        .contains(
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring"
                + " SNAT\" -j MASQUERADE");
    assertThat(IpvsText.section(text, IpvsText.SYSCTL))
        .containsExactly(
            "net.ipv4.vs.conntrack = 1",
            "net.ipv4.vs.expire_nodest_conn = 1",
            "net.ipv4.vs.expire_quiescent_template = 1",
            "net.ipv4.ip_forward = 1");
    assertThat(text).doesNotContain(IpvsText.IPVSADM_SET);
    assertThat(text.lines().filter(l -> l.startsWith("# ")))
        .containsExactly(
            IpvsText.ADDRESSES,
            IpvsText.IPSET,
            IpvsText.IPVSADM,
            IpvsText.IPTABLES,
            IpvsText.SYSCTL,
            IpvsText.JUMPS);
  }

  @Test
  void render_badLocalAddress_exitsTwoNamingTheFlag() throws Exception {
    assertThat(run(List.of("--local-addresses", "300.1.1.1", "--kernel-capabilities", "none")))
        .isEqualTo(2);
    assertThat(err.toString()).startsWith("svcproxy: ").contains("--local-addresses");
  }
}
