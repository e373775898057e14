package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.cli.Main;
import dev.svcproxy.testutil.States;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `svcproxy trace --bundle` on a bundle holding only nft-ruleset.json (upstream's
 * TestOverallNFTablesRules table as the kernel lists it) and the node's addresses and routes: the
 * output names the nft table, chain, rule handle and comment.
 */
class NftTraceCommandTest {
  @TempDir Path bundle;

  @Test
  void traceBundle_nftRuleset_stepsNameTableChainHandleAndComment() throws Exception {
    Files.writeString(
        bundle.resolve("nft-ruleset.json"), States.resource("/nftables/overall.json"));
    Files.writeString(bundle.resolve("ip-addr.json"), NftUpstreamPacketFlowTest.ADDR);
    Files.writeString(bundle.resolve("ip-route.json"), NftUpstreamPacketFlowTest.ROUTES);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        Main.execute(
            new String[] {
              "trace", "--bundle", bundle.toString(), "--src", "10.0.0.2", "--dst", "172.30.0.46:80"
            },
            new PrintWriter(out, true),
            new PrintWriter(err, true));
    assertThat(code).as(err.toString()).isEqualTo(1);
    assertThat(out.toString())
        .contains("REJECTED (NO_ENDPOINTS)")
        .contains(
            "nft ip kube-proxy service-endpoints-check #63: handle 63: ip daddr . meta l4proto ."
                + " th dport vmap @no-endpoint-services")
        .contains("element 172.30.0.46 . tcp . 80 (ns6/svc6:p80): goto reject-chain")
        .contains(
            "nft ip kube-proxy reject-chain #60: handle 60: reject with icmp port-unreachable")
        .contains("reject");
  }

  private int trace(StringWriter out, StringWriter err, String dst) {
    return Main.execute(
        new String[] {"trace", "--bundle", bundle.toString(), "--src", "10.0.0.2", "--dst", dst},
        new PrintWriter(out, true),
        new PrintWriter(err, true));
  }

  /**
   * The same table pasted as text (nft commands, after a shell prompt) instead of captured as JSON:
   * read through the text converter, it gives the same verdict and map element as the capture does
   * above.
   */
  @Test
  void traceBundle_pastedNftText_readThroughTheConverter() throws Exception {
    Files.writeString(
        bundle.resolve("nft-ruleset.txt"),
        "root@node1:~# cat /tmp/rules.nft\n"
            + States.resource("/nftables/base.nft")
            + States.resource("/nftables/overall-services.nft"));
    Files.writeString(bundle.resolve("ip-addr.json"), NftUpstreamPacketFlowTest.ADDR);
    Files.writeString(bundle.resolve("ip-route.json"), NftUpstreamPacketFlowTest.ROUTES);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    assertThat(trace(out, err, "172.30.0.46:80")).as(err.toString()).isEqualTo(1);
    assertThat(out.toString())
        .contains("REJECTED (NO_ENDPOINTS)")
        .contains("element 172.30.0.46 . tcp . 80 (ns6/svc6:p80): goto reject-chain")
        .doesNotContain("nftables rules not read");
  }

  @Test
  void traceBundle_brokenNftText_warnsWithLineAndColumnAndTracesWithoutIt() throws Exception {
    Files.writeString(
        bundle.resolve("nft-ruleset.txt"), "table ip kube-proxy {\n\tchain services {\n");
    Files.writeString(bundle.resolve("ip-addr.json"), NftUpstreamPacketFlowTest.ADDR);
    Files.writeString(bundle.resolve("ip-route.json"), NftUpstreamPacketFlowTest.ROUTES);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    trace(out, err, "172.30.0.46:80");
    assertThat(out.toString() + err)
        .containsPattern("nft-ruleset.txt:\\d+:\\d+: .*nftables rules not read");
  }
}
