package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The book's hand-built IPVS service before any SNAT rule (seeds/003, "实现散装的 IPVS SVC"): on
 * 192.168.2.111 (default route via 192.168.2.1 on eth0), VIP 169.254.11.2:80 rr over 192.168.2.111
 * and 192.168.2.222 at :8080. The book's observation is the oracle: `curl 169.254.11.2` from the
 * node alternates between an answer from .111 and a hang; tcpdump on .222 shows the SYN from the
 * VIP and the SYN-ACK sent to the gateway ("回包会走到网关上去").
 */
class BookIpvsTraceTest {
  private static final String ADDR =
      "[{\"ifname\":\"lo\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8,\"scope\":\"host\"}]},"
          + "{\"ifname\":\"eth0\",\"flags\":[\"UP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.2.111\",\"prefixlen\":24}]},"
          + "{\"ifname\":\"svc\",\"flags\":[\"BROADCAST\",\"NOARP\"],\"addr_info\":[{\"family\":\"inet\",\"local\":\"169.254.11.2\",\"prefixlen\":32}]}]";

  private static TraceResult trace(String defaultRoute) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", ADDR);
    f.put(
        "ip-route.json",
        defaultRoute
            + "192.168.2.0/24 dev eth0 proto kernel scope link src 192.168.2.111\n"
            + "local 192.168.2.111 dev eth0 table local proto kernel scope host src 192.168.2.111\n"
            + "local 169.254.11.2 dev svc table local proto kernel scope host src 169.254.11.2\n");
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put(
        "ipvsadm-save.txt",
        "-A -t 169.254.11.2:80 -s rr\n"
            + "-a -t 169.254.11.2:80 -r 192.168.2.111:8080 -m -w 1\n"
            + "-a -t 169.254.11.2:80 -r 192.168.2.222:8080 -m -w 1\n");
    return new Tracer(BundleReader.fromFiles(f))
        .trace(new PacketSpec(null, 50698, "169.254.11.2", 80, "tcp", null));
  }

  @Test
  void nodeToVip_remoteRealServerOnTheSameLink_replyGoesToTheGateway() {
    TraceResult r = trace("default via 192.168.2.1 dev eth0\n");

    assertThat(r.outcomes()).hasSize(2);
    for (Outcome o : r.outcomes()) {
      assertThat(o.probability()).isCloseTo(0.5, within(1e-9));
      assertThat(o.finalSource()).isEqualTo("169.254.11.2");
    }
    Outcome local = outcome(r, "192.168.2.111:8080");
    Outcome remote = outcome(r, "192.168.2.222:8080");
    // .111 is this node: the SYN loops back and is answered here.
    assertThat(local.reply().returnsHere()).isTrue();
    // .222 is on eth0's subnet, but this node itself reaches other networks through 192.168.2.1
    // on that link, and so does .222: its answer to 169.254.11.2 goes to the gateway.
    assertThat(remote.reply().returnsHere()).isFalse();
    assertThat(remote.reply().reasonCode()).isEqualTo(ReasonCode.REPLY_NOT_ROUTED_BACK);
  }

  @Test
  void nodeToVip_noGatewayOnThatLink_thisNodeMayBeThePeersRoute_replyAssumedToReturn() {
    // Without a default route through eth0 nothing says the peer has a gateway of its own (this
    // node may be its router, as it is for pods on a bridge): the reply is assumed to come back.
    TraceResult r = trace("");

    assertThat(outcome(r, "192.168.2.222:8080").reply().returnsHere()).isTrue();
  }

  private static Outcome outcome(TraceResult r, String dnat) {
    return r.outcomes().stream().filter(o -> dnat.equals(o.dnat())).findFirst().orElseThrow();
  }
}
