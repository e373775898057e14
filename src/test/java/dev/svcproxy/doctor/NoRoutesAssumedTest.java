package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.Seed000Bundle;
import dev.svcproxy.trace.PacketSpec;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Audit 12 #1: input without routes (a paste with no `ip route`, a bundle without ip-route.txt)
 * must not yield packet-not-delivered (no-route): the tracer assumes a default route out of an
 * uplink not shown and says so. And the share of failing paths in packet-not-delivered's summary
 * adds up the outcomes that fail the same way at the same place.
 */
class NoRoutesAssumedTest {
  private static Map<String, String> seed000(boolean routes) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", Seed000Bundle.ADDR);
    if (routes) {
      f.put("ip-route.txt", Seed000Bundle.ROUTES);
    }
    f.put("ipvsadm-save.txt", Seed000Bundle.SERVICES);
    f.put("ipset-save.txt", Seed000Bundle.IPSETS);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 1\n");
    return f;
  }

  private static DoctorReport examine(Map<String, String> files, PacketSpec p) {
    return Doctor.standard().examine(DoctorInputs.files(files, Optional.empty()).withPacket(p));
  }

  private static List<Finding> notDelivered(DoctorReport r) {
    return r.findings().stream().filter(f -> f.id().equals("packet-not-delivered")).toList();
  }

  /** The audit's m20: 10.19.136.50 on eth0 to the VIP 10.20.0.1:443 (three real servers). */
  private static final PacketSpec M20 =
      new PacketSpec("10.19.136.50", 0, "10.20.0.1", 443, "tcp", "eth0");

  @Test
  void noRoutes_packetNotDeliveredNotReported_defaultRouteAssumedAndSaid() {
    Map<String, String> f = seed000(false);
    f.put("iptables-save.txt", Seed000Bundle.FAILING);
    DoctorReport r = examine(f, M20);
    // The real servers 10.19.9.120, 10.19.14.106, 10.19.111.132 are off eth0's 10.19.136.0/24:
    // without routes nothing reached them before (no-route on every path). With a default route
    // out of an uplink the input does not show, IPVS sends each one out of it; with
    // rp_filter=1 the route back to 10.19.136.50 (that assumed default) is not held against
    // eth0, since which interface it really uses is unknown.
    assertThat(notDelivered(r)).isEmpty();
    assertThat(r.trace().outcomes()).hasSize(3).allMatch(o -> o.delivered());
    assertThat(r.assumptions())
        .anyMatch(
            a ->
                a.startsWith("no routes given: assumed")
                    && a.contains("default route out of (uplink, not shown)"));

    // A client off eth0's subnet: the only route back to 192.0.2.50 is the assumed default,
    // whose interface is not known, so rp_filter=1 must not drop it as arriving on the "wrong"
    // interface eth0 (it would, judged against "(uplink, not shown)").
    DoctorReport off = examine(f, new PacketSpec("192.0.2.50", 0, "10.20.0.1", 443, "tcp", "eth0"));
    assertThat(notDelivered(off)).isEmpty();
    assertThat(off.trace().outcomes()).hasSize(3).allMatch(o -> o.delivered());
  }

  @Test
  void twoOfThreeRealServersDropped_summarySaysTwoThirds_allThree_noShare() {
    // filter OUTPUT (IPVS hands a packet for a remote real server to OUTPUT) drops two of the
    // three real servers rr picks with 1/3 each: 2/3 of the paths fail the same way at the same
    // place, "67%", not the 33% of one outcome.
    Map<String, String> f = seed000(true);
    String filter =
        """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -d 10.19.9.120/32 -j DROP
        -A OUTPUT -d 10.19.14.106/32 -j DROP
        %s
        COMMIT
        """;
    f.put("iptables-save.txt", Seed000Bundle.FAILING + filter.formatted(""));
    List<Finding> two = notDelivered(examine(f, M20));
    assertThat(two).hasSize(1);
    assertThat(two.get(0).summary()).contains("in filter OUTPUT on 67% of its paths");

    // All three dropped there: every path fails, so no share is given at all.
    f.put(
        "iptables-save.txt",
        Seed000Bundle.FAILING + filter.formatted("-A OUTPUT -d 10.19.111.132/32 -j DROP"));
    List<Finding> all = notDelivered(examine(f, M20));
    assertThat(all).hasSize(1);
    assertThat(all.get(0).summary()).contains("in filter OUTPUT").doesNotContain("% of its paths");
  }
}
