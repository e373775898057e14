package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A pasted `ip route` shows the main table only. The kernel adds a {@code local} route to the local
 * table for every address (fib_add_ifaddr) and {@code local 127.0.0.0/8} on lo; without them the
 * node's own address would be routed on and {@code -m addrtype --dst-type LOCAL} (kube-proxy's jump
 * to KUBE-NODEPORTS) would never match.
 */
class PastedLocalRoutesTest {
  /** Seed 002's worker as its author showed it: address, main routes, a NodePort's nat rules. */
  private static final String NODE =
      """
      $ ip addr
      1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
          link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
          inet 127.0.0.1/8 scope host lo
      2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default
          link/ether 02:42:ac:14:14:10 brd ff:ff:ff:ff:ff:ff
          inet 172.20.20.16/24 brd 172.20.20.255 scope global eth0
      7: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default
          link/ether 5e:2d:11:3c:0a:9b brd ff:ff:ff:ff:ff:ff
          inet 10.104.89.245/32 scope global kube-ipvs0
      $ ip route
      default via 172.20.20.1 dev eth0
      10.244.5.0/24 via 172.20.20.15 dev eth0
      172.20.20.0/24 dev eth0 proto kernel scope link src 172.20.20.16
      $ iptables-save -t nat | grep -e KUBE-SERVICES -e KUBE-NODEPORTS -e L65ENXXZWWSAPRCR
      -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
      -A KUBE-NODEPORTS -p tcp -m comment --comment "default/my-nginx" -m tcp --dport 30294 -j KUBE-SVC-L65ENXXZWWSAPRCR
      -A KUBE-SVC-L65ENXXZWWSAPRCR -m comment --comment "default/my-nginx" -j KUBE-SEP-UJJ5ZCV3TZ2YYFIA
      -A KUBE-SEP-UJJ5ZCV3TZ2YYFIA -p tcp -m comment --comment "default/my-nginx" -m tcp -j DNAT --to-destination 10.244.5.7:80
      """;

  private static DoctorInput paste(String text) {
    return DoctorInputs.paste(List.of(new PastedInput.Source("issue.txt", text)), Optional.empty());
  }

  @Test
  void pastedIpRoute_externalClientToNodePort_dnatedAsOnTheNode() {
    DoctorInput in = paste(NODE);
    // Hand reasoning: 172.20.20.16 is eth0's address, so the kernel's local table routes it
    // "local"; the nat PREROUTING jump to KUBE-SERVICES, then (dst-type LOCAL) KUBE-NODEPORTS,
    // takes dport 30294 to the only endpoint 10.244.5.7:80, which is then forwarded via
    // 172.20.20.15 (ip_forward assumed 1: no sysctl pasted).
    TraceResult t =
        new DoctorContext(in)
            .trace(new PacketSpec("172.20.20.100", 40000, "172.20.20.16", 30294, "tcp", "eth0"));
    assertThat(t.outcomes()).extracting(Outcome::dnat).containsOnly("10.244.5.7:80");
    assertThat(Doctor.standard().examine(in).assumptions())
        .anyMatch(
            a ->
                a.startsWith("ip-route.txt has no local-table routes")
                    && a.contains("local 172.20.20.16 dev eth0")
                    && a.contains("local 127.0.0.0/8 dev lo"));
  }

  @Test
  void pastedIpRoute_addressesOfADownInterface_areLocalToo() {
    // fib_add_ifaddr adds the local route before it looks at IFF_UP: kube-ipvs0 is DOWN, yet its
    // VIPs are the node's own (IPVS mode relies on it). 127.0.0.1/8 lies in lo's 127.0.0.0/8.
    NodeState n = paste(NODE).node();
    assertThat(n.routes())
        .filteredOn(r -> r.table().equals("local"))
        .extracting(NodeState.Route::type, NodeState.Route::dst, NodeState.Route::dev)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("local", "127.0.0.0/8", "lo"),
            org.assertj.core.groups.Tuple.tuple("local", "172.20.20.16/32", "eth0"),
            org.assertj.core.groups.Tuple.tuple("local", "10.104.89.245/32", "kube-ipvs0"));
  }

  @Test
  void routesWithTheLocalTable_nothingSynthesised() {
    // `ip route show table all` (what capture records) has the local table: read as given.
    String text =
        """
        $ ip addr
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default
            inet 172.20.20.16/24 brd 172.20.20.255 scope global eth0
        $ ip route show table all
        default via 172.20.20.1 dev eth0
        172.20.20.0/24 dev eth0 proto kernel scope link src 172.20.20.16
        local 172.20.20.16 dev eth0 table local proto kernel scope host src 172.20.20.16
        """;
    DoctorInput in = paste(text);
    assertThat(in.node().routes()).filteredOn(r -> r.table().equals("local")).hasSize(1);
    assertThat(Doctor.standard().examine(in).assumptions())
        .noneMatch(a -> a.contains("no local-table routes"));
  }
}
