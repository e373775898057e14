package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.States;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** render --mode nftables prints the full-sync transaction of upstream's nftables proxier. */
class RenderNftablesCommandTest {
  private static final String DIR = "/dev/svcproxy/render/nftables/";

  @TempDir Path manifests;

  private static List<String> sortedLines(String s) {
    return s.lines()
        .map(String::strip)
        .filter(l -> !l.isEmpty() && !l.startsWith("#"))
        .sorted()
        .toList();
  }

  @Test
  void render_upstreamOverallInput_printsUpstreamsExpectedCommandsChainsFirst() throws Exception {
    Files.writeString(manifests.resolve("input.yaml"), States.resource(DIR + "overall-input.yaml"));
    // The fake proxier's service CIDR, as a ServiceCIDR object.
    Files.writeString(
        manifests.resolve("cidr.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: kubernetes}\n"
            + "spec: {cidrs: [172.30.0.0/16]}\n");
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        Main.execute(
            new String[] {
              "render",
              "--mode",
              "nftables",
              "--manifests",
              manifests.toString(),
              "--node-name",
              "test-node",
              "--node-ip",
              "192.168.0.2",
              "--cluster-cidr",
              "10.0.0.0/8",
              "--nodeport-addresses",
              "192.168.0.2/32"
            },
            new PrintWriter(out, true),
            new PrintWriter(err, true));
    assertThat(code).as(err.toString()).isZero();
    String expected =
        States.resource(DIR + "base-rules.nft") + States.resource(DIR + "overall-expected.nft");
    // Upstream's TestOverallNFTablesRules dump, in another order: the same commands.
    assertThat(sortedLines(out.toString())).isEqualTo(sortedLines(expected));
    // Every chain is declared before the first rule, the table before all.
    List<String> lines = out.toString().lines().toList();
    assertThat(lines.get(0)).startsWith("add table ip kube-proxy");
    int lastChain = -1;
    int firstRule = Integer.MAX_VALUE;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith("add chain")) {
        lastChain = i;
      }
      if (lines.get(i).startsWith("add rule")) {
        firstRule = Math.min(firstRule, i);
      }
    }
    assertThat(lastChain).isLessThan(firstRule);
  }
}
