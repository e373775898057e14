package dev.svcproxy.trace.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.bundle.BundleReader;
import java.util.ArrayList;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * `-m ipvs` on the two directions of one IPVS connection, reasoned from the kernel's
 * net/netfilter/xt_ipvs.c ipvs_mt: --ipvs alone tests skb->ipvs_property; any other option first
 * needs the connection, looked up by ip_vs_fill_iph_skb(family, skb, true) (inverse: p.caddr =
 * daddr, p.cport = dport, p.vaddr = saddr, p.vport = sport) and pp->conn_out_get, which
 * (ip_vs_conn_out_get) wants p.caddr == cp->daddr (the real server) and p.cport == cp->dport. Only
 * an original-direction packet after the rewrite (client -> real server) satisfies it; a reply
 * (real server -> client, de-NATed or not) finds no connection, so its tests are all false and
 * --vdir REPLY never matches.
 */
class RuleEvaluatorIpvsTest {
  private static final NodeState NODE = BundleReader.fromFiles(Map.of());

  /** LB 1.2.3.4:80 masqueraded to 10.244.1.5:8080 for the client 10.0.1.5:40000. */
  private static final IpvsHook.Binding CONN =
      new IpvsHook.Binding("1.2.3.4", 80, "10.244.1.5", 8080, "MASQ");

  private static double eval(String options, Branch b) {
    RuleEvaluator e = new RuleEvaluator(NODE, new Routing(NODE, new ArrayList<>()));
    RuleEvaluator.Verdict v =
        e.evaluate(IptablesCodec.parseRule("-A X -m ipvs " + options + " -j DROP"), b);
    assertThat(v.unknown()).isNull();
    return v.matchProbability();
  }

  /** The client's packet after IPVS sent it to the real server. */
  private static Branch original() {
    Branch b = new Branch("10.0.1.5", 40000, "10.244.1.5", 8080, "tcp", "eth0");
    b.ipvsBinding = CONN;
    return b;
  }

  /** The real server's reply after IPVS de-NATed its source back to the LB address. */
  private static Branch reply() {
    Branch b = new Branch("1.2.3.4", 80, "10.0.1.5", 40000, "tcp", "lo");
    b.replyDirection = true;
    b.ipvsBinding = CONN;
    return b;
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--ipvs                                          | 1.0 | 1.0",
        "--vaddr 1.2.3.4                                 | 1.0 | 0.0",
        "--vaddr 1.2.3.4 --vproto tcp --vport 80         | 1.0 | 0.0",
        "--vport 80                                      | 1.0 | 0.0",
        "--vproto tcp                                    | 1.0 | 0.0",
        "--vmethod MASQ                                  | 1.0 | 0.0",
        "--vdir ORIGINAL                                 | 1.0 | 0.0",
        "--vdir REPLY                                    | 0.0 | 0.0",
        "--vaddr 5.6.7.8                                 | 0.0 | 0.0",
      })
  void evaluate_ipvsOptions_matchOnlyOriginalDirectionAfterTheRewrite(
      String options, double original, double reply) {
    assertThat(eval(options, original())).as("original: " + options).isEqualTo(original);
    assertThat(eval(options, reply())).as("reply: " + options).isEqualTo(reply);
  }

  @ParameterizedTest
  @CsvSource({"--vaddr 1.2.3.4", "--vdir ORIGINAL"})
  void evaluate_originalBeforeTheRewrite_noConnectionFound(String options) {
    // Still addressed to the virtual server: the inverted lookup wants the real server.
    Branch b = new Branch("10.0.1.5", 40000, "1.2.3.4", 80, "tcp", "eth0");
    b.ipvsBinding = CONN;
    assertThat(eval(options, b)).isEqualTo(0.0);
  }
}
