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
}
