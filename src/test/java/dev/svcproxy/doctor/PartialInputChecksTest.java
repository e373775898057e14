package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.testutil.Seed000Bundle;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Checks that conclude from the ABSENCE of something (a rule, a chain, a table, a set, a real
 * server, a route, an address, a sysctl) on partial pasted input: when the paste does not show what
 * the conclusion needs, the check must not report and must say what it could not check; when the
 * paste does show the broken condition whole, it still reports. Each "not shown" case was a false
 * positive before the checks learnt what the input covers (InputCoverage). Expected outcomes are
 * reasoned by hand in each test from what the command printed.
 */
class PartialInputChecksTest {
  private static DoctorReport paste(String text) {
    return Doctor.standard()
        .examine(
            DoctorInputs.paste(
                List.of(new PastedInput.Source("issue.txt", text)), Optional.empty()));
  }

  private static List<Finding> find(DoctorReport r, String id) {
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  // ---------------------------------------------------------------- kube-proxy-not-running

  private static final String NAT_LISTING =
      """
      $ iptables -t nat -L -n -v
      Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)
       pkts bytes target     prot opt in     out     source               destination
          0     0 KUBE-SERVICES  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes service portals */

      Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
       pkts bytes target     prot opt in     out     source               destination

      Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
       pkts bytes target     prot opt in     out     source               destination
          0     0 KUBE-SERVICES  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes service portals */

      Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)
       pkts bytes target     prot opt in     out     source               destination

      Chain KUBE-PROXY-CANARY (0 references)
       pkts bytes target     prot opt in     out     source               destination

      Chain KUBE-SERVICES (2 references)
       pkts bytes target     prot opt in     out     source               destination
      """;

  @Test
  void notRunning_natListingOnly_canaryOfOtherTablesNotShown_notReported() {
    // `iptables -t nat -L -n -v` lists the nat table alone: the canary is there, and mangle and
    // filter are simply not in the paste. Before, their absence read as "canary gone from
    // mangle, filter" (kube-proxy-not-running, error).
    DoctorReport r = paste(NAT_LISTING);
    assertThat(find(r, "kube-proxy-not-running")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("mangle, filter not shown whole") && a.contains("canary"));
  }

  @Test
  void notRunning_wholeSaveWithoutFilterCanary_reported() {
    // A whole `iptables-save` shows every table the node has: kube-proxy declares
    // KUBE-PROXY-CANARY in mangle, nat and filter at every sync, so a filter table without it
    // was flushed after the proxy's last sync and nothing recreated it.
    String text =
        """
        $ iptables-save
        *mangle
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-PROXY-CANARY - [0:0]
        COMMIT
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-PROXY-CANARY - [0:0]
        :KUBE-SERVICES - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        COMMIT
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        COMMIT
        """;
    assertThat(find(paste(text), "kube-proxy-not-running"))
        .singleElement()
        .satisfies(f -> assertThat(f.summary()).contains("canary chain is gone from filter"));
  }

  private static final String SERVICES_TABLE =
      """
      $ kubectl get svc,ep -o wide
      NAME                 TYPE        CLUSTER-IP     EXTERNAL-IP   PORT(S)        AGE   SELECTOR
      service/web          ClusterIP   10.96.12.34    <none>        80/TCP         1d    app=web

      NAME                   ENDPOINTS                         AGE
      endpoints/web          10.244.1.5:8080                   1d
      """;

  @Test
  void notRunning_filterListingOnly_natNotShown_notReported() {
    // `iptables -L -n -v` lists filter only; kube-proxy's KUBE-SERVICES lives in nat, which the
    // paste does not show. Before: "The cluster has 1 Service port(s) but the node has no proxy
    // rules".
    String text =
        """
        $ iptables -L -n -v
        Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
         pkts bytes target     prot opt in     out     source               destination

        Chain FORWARD (policy ACCEPT 0 packets, 0 bytes)
         pkts bytes target     prot opt in     out     source               destination

        Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
         pkts bytes target     prot opt in     out     source               destination
        """
            + SERVICES_TABLE;
    DoctorReport r = paste(text);
    assertThat(find(r, "kube-proxy-not-running")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("no whole nat table") && a.contains("proxy rules"));
  }

  // ---------------------------------------------------------------- hairpin-not-masqueraded

  @Test
  void hairpin_grepOfTheEndpointAddress_masqueradeRuleNotShown_notReported() {
    // `grep 10.244.1.5:8080` keeps the lines naming the endpoint with its port: the DNAT and
    // the Service chain's jump. kube-proxy's `-s 10.244.1.5/32 -j KUBE-MARK-MASQ` in the same
    // KUBE-SEP chain has no ":8080" and was filtered out, not removed. Before: error.
    String text =
        """
        $ iptables-save | grep 10.244.1.5:8080
        -A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.1.5:8080" -j KUBE-SEP-AAAA
        -A KUBE-SEP-AAAA -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:8080
        """;
    DoctorReport r = paste(text);
    assertThat(find(r, "hairpin-not-masqueraded")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.startsWith("KUBE-SEP-AAAA is not shown whole") && a.contains("hairpin"));
  }

  @Test
  void hairpin_listingOfTheWholeChainWithoutMasquerade_reported() {
    // `iptables -t nat -L KUBE-SEP-AAAA` prints every rule of the chain: only the DNAT, so the
    // endpoint's own traffic is not marked for masquerade and its hairpin reply never returns.
    String text =
        """
        $ iptables -t nat -L KUBE-SEP-AAAA -n -v
        Chain KUBE-SEP-AAAA (1 references)
         pkts bytes target     prot opt in     out     source               destination
            0     0 DNAT       tcp  --  *      *       0.0.0.0/0            0.0.0.0/0            /* default/web:http */ tcp to:10.244.1.5:8080
        """;
    assertThat(find(paste(text), "hairpin-not-masqueraded"))
        .singleElement()
        .satisfies(
            f ->
                assertThat(f.evidence().get(0).text())
                    .contains("-j DNAT --to-destination 10.244.1.5:8080"));
  }

  @Test
  void hairpin_grepOfTheChainName_keepsTheWholeChain_reported() {
    // Every line of chain KUBE-SEP-AAAA in iptables-save output ("-A KUBE-SEP-AAAA ...") holds
    // its name, so `grep KUBE-SEP-AAAA` shows the chain whole: no masquerade rule there.
    String text =
        """
        $ iptables-save | grep KUBE-SEP-AAAA
        :KUBE-SEP-AAAA - [0:0]
        -A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.1.5:8080" -j KUBE-SEP-AAAA
        -A KUBE-SEP-AAAA -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:8080
        """;
    assertThat(find(paste(text), "hairpin-not-masqueraded")).hasSize(1);
  }

  // ---------------------------------------------------------------- IPVS: empty server, ipsets

  @Test
  void ipvs_grepOfOneVirtualServerAndOneSet_realServersAndCoreSetsNotShown_notReported() {
    // `ipvsadm -Ln | grep 10.0.0.5` keeps the virtual server line; its real servers ("->
    // 10.244.x.y:80 ...") do not contain 10.0.0.5 and were filtered out. `ipset save
    // KUBE-LOAD-BALANCER-LOCAL` prints that one set, not KUBE-CLUSTER-IP/KUBE-LOOP-BACK. Before:
    // etp-local-empty-virtual-server and ipset-missing, both from what the paste left out.
    String text =
        """
        $ ipvsadm -Ln | grep 10.0.0.5
        TCP  10.0.0.5:80 rr
        $ ipset save KUBE-LOAD-BALANCER-LOCAL
        create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
        add KUBE-LOAD-BALANCER-LOCAL 10.0.0.5,tcp:80
        """;
    DoctorReport r = paste(text);
    assertThat(find(r, "etp-local-empty-virtual-server")).isEmpty();
    assertThat(find(r, "ipset-missing")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("ipvsadm -Ln | grep 10.0.0.5") && a.contains("real servers"))
        .anyMatch(a -> a.contains("ipset save KUBE-LOAD-BALANCER-LOCAL"));
  }

  @Test
  void ipvs_wholeListingWithEmptyLocalServer_reported() {
    // `ipvsadm -Ln` lists every virtual server with its real servers: 10.0.0.5:80 has none, and
    // the whole `ipset save` lists it in KUBE-LOAD-BALANCER-LOCAL (eTP=Local): the empty
    // virtual server refuses in-cluster traffic. The core sets exist: no ipset-missing.
    String text =
        """
        $ ipvsadm -Ln
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
        TCP  10.0.0.5:80 rr
        TCP  10.96.0.1:443 rr
          -> 10.0.0.11:6443               Masq    1      0          0
        $ ipset save
        create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
        add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
        create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
        create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
        add KUBE-LOAD-BALANCER-LOCAL 10.0.0.5,tcp:80
        """;
    DoctorReport r = paste(text);
    assertThat(find(r, "etp-local-empty-virtual-server")).hasSize(1);
    assertThat(find(r, "ipset-missing")).isEmpty();
  }

  @Test
  void ipvs_wholeIpsetSaveWithoutCoreSets_reported() {
    // A whole `ipset save` without KUBE-CLUSTER-IP and KUBE-LOOP-BACK while IPVS has virtual
    // servers: kube-proxy could not create its sets.
    String text =
        """
        $ ipvsadm -Ln
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
        TCP  10.96.0.1:443 rr
          -> 10.0.0.11:6443               Masq    1      0          0
        $ ipset save
        create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
        """;
    assertThat(find(paste(text), "ipset-missing")).hasSize(1);
  }

  // ---------------------------------------------------------------- routes

  /** kube-proxy's rules for default/web, grepped: a VIP and one endpoint on another node. */
  private static final String WEB_GREP =
      """
      $ iptables-save | grep default/web
      -A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
      -A KUBE-SVC-WEB ! -s 10.244.0.0/16 -d 10.96.0.20/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
      -A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.2.5:8080" -j KUBE-SEP-BBBB
      -A KUBE-SEP-BBBB -s 10.244.2.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
      -A KUBE-SEP-BBBB -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.5:8080
      """;

  @Test
  void routes_grepOfIpRoute_defaultAndEndpointRouteNotShown_notReported() {
    // `ip route | grep cni0` keeps the routes through cni0: the default route and the route to
    // node2's pods (via eth0) were filtered out. Before: no-default-route (10.96.0.20 unrouted)
    // and no-route-to-endpoint (10.244.2.5), both errors.
    String text =
        WEB_GREP
            + """
            $ ip route | grep cni0
            10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
            """;
    DoctorReport r = paste(text);
    assertThat(find(r, "no-default-route")).isEmpty();
    assertThat(find(r, "no-route-to-endpoint")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("ip route | grep cni0") && a.contains("routing"));
  }

  @Test
  void routes_wholeIpRouteWithoutThem_reported() {
    // `ip route` prints the whole main table: no default route, nothing covering 10.96.0.20 or
    // 10.244.2.5 (no ip rules pasted: the lookup is local, main, default).
    String text =
        WEB_GREP
            + """
            $ ip route
            10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11
            10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
            """;
    DoctorReport r = paste(text);
    assertThat(find(r, "no-default-route")).hasSize(1);
    assertThat(find(r, "no-route-to-endpoint"))
        .singleElement()
        .satisfies(f -> assertThat(f.summary()).startsWith("Endpoint 10.244.2.5:8080"));
  }

  // ---------------------------------------------------------------- route-localnet-off

  private static final String NODEPORT_NAT =
      """
      $ iptables-save -t nat
      *nat
      :PREROUTING ACCEPT [0:0]
      :INPUT ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      :POSTROUTING ACCEPT [0:0]
      :KUBE-SERVICES - [0:0]
      :KUBE-NODEPORTS - [0:0]
      :KUBE-SVC-WEB - [0:0]
      :KUBE-SEP-BBBB - [0:0]
      :KUBE-MARK-MASQ - [0:0]
      -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
      -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
      -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
      -A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j KUBE-SVC-WEB
      -A KUBE-SVC-WEB -m comment --comment "default/web:http -> 10.244.2.5:8080" -j KUBE-SEP-BBBB
      -A KUBE-SEP-BBBB -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.5:8080
      COMMIT
      $ ip route
      default via 10.0.0.1 dev eth0
      10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11
      """;

  @Test
  void routeLocalnet_sysctlNotPasted_notReported() {
    // Only ip_forward was pasted: route_localnet is unknown, not 0. Before, the tracer's default
    // (0) made 127.0.0.1:30080 a martian and route-localnet-off was reported.
    String text =
        NODEPORT_NAT
            + """
            $ sysctl net.ipv4.ip_forward
            net.ipv4.ip_forward = 1
            """;
    DoctorReport r = paste(text);
    assertThat(find(r, "route-localnet-off")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.startsWith("net.ipv4.conf.all.route_localnet not in the input"));
  }

  @Test
  void routeLocalnet_pastedAsZero_reported() {
    // route_localnet = 0 shown: 127.0.0.1:30080 is DNATed to 10.244.2.5 and re-routed out eth0
    // with source 127.0.0.1, which the kernel drops as martian.
    String text =
        NODEPORT_NAT
            + """
            $ sysctl net.ipv4.ip_forward net.ipv4.conf.all.route_localnet
            net.ipv4.ip_forward = 1
            net.ipv4.conf.all.route_localnet = 0
            """;
    assertThat(find(paste(text), "route-localnet-off")).hasSize(1);
  }

  // ---------------------------------------------------------------- forward-policy-drop

  private static final String POD_NODE =
      """
      $ ip addr
      1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
          inet 127.0.0.1/8 scope host lo
      2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000
          inet 10.0.0.11/24 brd 10.0.0.255 scope global eth0
      3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
          inet 10.244.1.1/24 brd 10.244.1.255 scope global cni0
      4: veth1a2b3c4d@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master cni0 state UP group default
      $ ip route
      default via 10.0.0.1 dev eth0
      10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11
      10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1
      10.244.2.0/24 via 10.0.0.12 dev eth0
      """;

  @Test
  void forwardPolicy_forwardChainListedAlone_jumpedChainsNotShown_notReported() {
    // `iptables -L FORWARD` lists FORWARD alone: its jumps to KUBE-FORWARD and DOCKER-USER lead to
    // chains the paste does not show, which may accept the pods' traffic (kube-proxy's
    // KUBE-FORWARD accepts marked and established packets, a CNI may add more). Before, the
    // tracer took them for empty and the probe from a pod died at the policy.
    String text =
        POD_NODE
            + """
            $ iptables -L FORWARD -n -v
            Chain FORWARD (policy DROP 0 packets, 0 bytes)
             pkts bytes target     prot opt in     out     source               destination
                0     0 KUBE-FORWARD  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes forwarding rules */
                0     0 DOCKER-USER  all  --  *      *       0.0.0.0/0            0.0.0.0/0
                0     0 ACCEPT     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED
            """;
    DoctorReport r = paste(text);
    assertThat(find(r, "forward-policy-drop")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(
            a ->
                a.contains("FORWARD has policy DROP")
                    && a.contains("KUBE-FORWARD")
                    && a.contains("DOCKER-USER"));
  }

  @Test
  void packet_forwardChainListedAlone_policyDropNotExplainedFromUnseenChains() {
    // The same paste, asked about a pod's packet to node2's pod: the tracer walks FORWARD, takes
    // the unseen KUBE-FORWARD and DOCKER-USER for empty and ends at the policy. That rests on
    // chains the paste lacks: no packet-not-delivered, an assumption instead (before: error).
    String text =
        POD_NODE
            + """
            $ iptables -L FORWARD -n -v
            Chain FORWARD (policy DROP 0 packets, 0 bytes)
             pkts bytes target     prot opt in     out     source               destination
                0     0 KUBE-FORWARD  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes forwarding rules */
                0     0 DOCKER-USER  all  --  *      *       0.0.0.0/0            0.0.0.0/0
            """;
    DoctorInput in =
        DoctorInputs.paste(List.of(new PastedInput.Source("issue.txt", text)), Optional.empty())
            .withPacket(
                new dev.svcproxy.trace.PacketSpec(
                    "10.244.1.9", 40000, "10.244.2.9", 80, "tcp", "cni0"));
    DoctorReport r = Doctor.standard().examine(in);
    assertThat(find(r, "packet-not-delivered")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.startsWith("filter FORWARD policy DROP ends the traced packet"));
  }

  @Test
  void forwardPolicy_wholeFilterListing_nothingAcceptsPods_reported() {
    // The whole filter table: DOCKER-USER returns, KUBE-FORWARD accepts only marked (0x4000) and
    // established packets; a pod's new connection to node2's pods (10.244.2.0/24 via eth0) is
    // accepted by nothing and ends at the DROP policy (Docker's).
    String text =
        POD_NODE
            + """
            $ iptables -L -n -v
            Chain INPUT (policy ACCEPT 0 packets, 0 bytes)
             pkts bytes target     prot opt in     out     source               destination

            Chain FORWARD (policy DROP 0 packets, 0 bytes)
             pkts bytes target     prot opt in     out     source               destination
                0     0 KUBE-FORWARD  all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes forwarding rules */
                0     0 DOCKER-USER  all  --  *      *       0.0.0.0/0            0.0.0.0/0
                0     0 ACCEPT     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED

            Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
             pkts bytes target     prot opt in     out     source               destination

            Chain DOCKER-USER (1 references)
             pkts bytes target     prot opt in     out     source               destination
                0     0 RETURN     all  --  *      *       0.0.0.0/0            0.0.0.0/0

            Chain KUBE-FORWARD (1 references)
             pkts bytes target     prot opt in     out     source               destination
                0     0 DROP       all  --  *      *       0.0.0.0/0            0.0.0.0/0            ctstate INVALID
                0     0 ACCEPT     all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes forwarding rules */ mark match 0x4000/0x4000
                0     0 ACCEPT     all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* kubernetes forwarding conntrack rule */ ctstate RELATED,ESTABLISHED
            """;
    assertThat(find(paste(text), "forward-policy-drop")).hasSize(1);
  }

  // ---------------------------------------------------------------- nodelocaldns-leftover-notrack

  private static final String NOTRACK =
      """
      $ iptables-save -t raw
      *raw
      :PREROUTING ACCEPT [0:0]
      :OUTPUT ACCEPT [0:0]
      -A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j NOTRACK
      -A OUTPUT -s 10.96.0.10/32 -p udp -m udp --sport 53 -j NOTRACK
      COMMIT
      $ iptables-save | grep kube-dns
      -A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
      """;

  @Test
  void nodeLocalDns_addressesGrepped_notReported() {
    // `ip addr | grep -A2 -E 'cni0|veth'` shows the pods' bridge, not every interface: the
    // node-local-dns dummy interface holding 10.96.0.10 may be among those filtered out. Before:
    // nodelocaldns-leftover-notrack (error) for an address it could not see.
    String text =
        NOTRACK
            + """
            $ ip addr | grep -A2 -E 'cni0|veth'
            3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
                inet 10.244.1.1/24 brd 10.244.1.255 scope global cni0
            4: veth1a2b3c4d@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master cni0 state UP group default
            """;
    DoctorReport r = paste(text);
    assertThat(find(r, "nodelocaldns-leftover-notrack")).isEmpty();
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("filters its output") && a.contains("10.96.0.10"));
  }

  @Test
  void nodeLocalDns_wholeAddressListWithoutTheVip_reported() {
    // The whole `ip addr`: no interface holds 10.96.0.10, yet raw PREROUTING NOTRACKs DNS to it,
    // so a pod's query is neither DNATed nor delivered locally.
    String text =
        NOTRACK
            + """
            $ ip addr
            1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
                inet 127.0.0.1/8 scope host lo
            2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000
                inet 10.0.0.11/24 brd 10.0.0.255 scope global eth0
            3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
                inet 10.244.1.1/24 brd 10.244.1.255 scope global cni0
            4: veth1a2b3c4d@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master cni0 state UP group default
            """;
    assertThat(find(paste(text), "nodelocaldns-leftover-notrack")).hasSize(1);
  }

  // ----------------------------------------------------------------
  // docker-localhost-port-via-proxy

  private static final String LOCAL_ROUTES =
      """
      $ ip route show table all
      default via 10.0.0.1 dev eth0
      10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.11
      172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1
      local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
      local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
      local 10.0.0.11 dev eth0 table local proto kernel scope host src 10.0.0.11
      local 172.17.0.1 dev docker0 table local proto kernel scope host src 172.17.0.1
      """;

  @Test
  void docker_dockerChainListedAlone_outputNotShown_notReported() {
    // `iptables -t nat -L DOCKER` shows Docker's DNAT for port 8080 but not nat OUTPUT, which
    // decides whether 127.0.0.1:8080 is DNATed (Docker's own jump skips 127.0.0.0/8; a userland
    // proxy off with hairpin rules, or another tool, may add one). Before: reported from an
    // OUTPUT chain the paste did not show.
    String text =
        LOCAL_ROUTES
            + """
            $ iptables -t nat -L DOCKER -n -v
            Chain DOCKER (2 references)
             pkts bytes target     prot opt in     out     source               destination
                0     0 RETURN     all  --  docker0 *       0.0.0.0/0            0.0.0.0/0
                0     0 DNAT       tcp  --  !docker0 *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080 to:172.17.0.2:80
            """;
    DoctorReport r = paste(text);
    assertThat(find(r, "docker-localhost-port-via-proxy")).isEmpty();
    assertThat(r.assumptions()).anyMatch(a -> a.contains("OUTPUT") && a.contains("127.0.0.1"));
  }

  @Test
  void docker_wholeNatTable_localhostNotDnated_reported() {
    // The whole nat table: OUTPUT jumps to DOCKER only for local destinations outside
    // 127.0.0.0/8, so 127.0.0.1:8080 is not DNATed and only docker-proxy can serve it.
    String text =
        LOCAL_ROUTES
            + """
            $ iptables-save -t nat
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            :DOCKER - [0:0]
            -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
            -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
            -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
            -A DOCKER -i docker0 -j RETURN
            -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
            COMMIT
            """;
    assertThat(find(paste(text), "docker-localhost-port-via-proxy")).hasSize(1);
  }

  // ---------------------------------------------------------------- missing-cluster-cidr (IPVS)

  private static final String CLUSTER_IP_SET =
      """
      $ ipset save
      create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
      add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
      create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
      """;

  @Test
  void clusterCidrIpvs_grepOfNodePortRules_kubeServicesNotWhole_notReported() {
    // `grep KUBE-NODE-PORT` keeps only KUBE-SERVICES' NodePort jump: the ClusterIP masquerade
    // rule (`-m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`) has no
    // "KUBE-NODE-PORT" and was filtered out. Before: missing-cluster-cidr (error).
    String text =
        CLUSTER_IP_SET
            + """
            $ iptables-save | grep KUBE-NODE-PORT
            -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
            -A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
            """;
    DoctorReport r = paste(text);
    assertThat(find(r, "missing-cluster-cidr")).isEmpty();
    assertThat(r.assumptions()).anyMatch(a -> a.startsWith("KUBE-SERVICES (nat) not shown whole"));
  }

  @Test
  void clusterCidrIpvs_wholeKubeServicesWithoutMasquerade_reported() {
    // `iptables -t nat -S KUBE-SERVICES` prints the whole chain: no rule marks KUBE-CLUSTER-IP
    // traffic for masquerade, as kube-proxy (IPVS) without --cluster-cidr writes it (seed 000).
    String text =
        CLUSTER_IP_SET
            + """
            $ iptables -t nat -S KUBE-SERVICES
            -N KUBE-SERVICES
            -A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
            -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
            """;
    assertThat(find(paste(text), "missing-cluster-cidr")).hasSize(1);
  }

  // ---------------------------------------------------------------- vip-as-source (IPVS)

  @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir;

  /** Seed 000's node as a bundle directory, with the nat rules given as {@code nat.txt}. */
  private DoctorReport seed000WithNat(String natPaste) throws java.io.IOException {
    java.nio.file.Files.writeString(dir.resolve("ip-addr.json"), Seed000Bundle.ADDR);
    java.nio.file.Files.writeString(dir.resolve("ip-route.txt"), Seed000Bundle.ROUTES);
    java.nio.file.Files.writeString(dir.resolve("ipvsadm-save.txt"), Seed000Bundle.SERVICES);
    java.nio.file.Files.writeString(dir.resolve("ipset-save.txt"), Seed000Bundle.IPSETS);
    java.nio.file.Files.writeString(dir.resolve("nat.txt"), natPaste);
    return Doctor.standard().examine(DoctorInputs.bundle(dir, Optional.empty()));
  }

  @Test
  void vipAsSource_onlyKubeServicesPasted_outputAndPostroutingNotShown_notReported()
      throws Exception {
    // `iptables -t nat -S KUBE-SERVICES` shows that chain whole (no ClusterIP masquerade rule:
    // missing-cluster-cidr stands), but not nat OUTPUT/POSTROUTING, where a masquerade of the
    // node's VIP-sourced connections would be. Before, the tracer took them for empty and named
    // vip-as-source from rules it never saw.
    DoctorReport r =
        seed000WithNat(
            """
            $ iptables -t nat -S KUBE-SERVICES
            -N KUBE-SERVICES
            -A KUBE-SERVICES -p tcp -m tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
            """);
    assertThat(find(r, "vip-as-source")).isEmpty();
    assertThat(find(r, "missing-cluster-cidr")).hasSize(1);
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("nat OUTPUT") && a.contains("VIP-sourced connections"));
  }

  @Test
  void vipAsSource_wholeNatTablePasted_reported() throws Exception {
    // The seed's whole nat table: KUBE-POSTROUTING masquerades only marked packets and the
    // LOOP-BACK set, so the node's connection from 10.20.0.1 to a remote apiserver leaves
    // unmasqueraded and its reply never returns (seed 000).
    DoctorReport r = seed000WithNat("$ iptables-save -t nat\n" + Seed000Bundle.FAILING);
    assertThat(find(r, "vip-as-source")).hasSize(1);
  }

  // ---------------------------------------------------------------- duplicate-rules

  @Test
  void duplicates_sameRuleInTwoPastedBlocks_notReported() {
    // The DNAT of KUBE-SEP-AAAA shown by a grep and again by the save of the whole nat table:
    // one rule pasted twice, not a rule the node holds twice. Before: duplicate-rules.
    String rule =
        "-A KUBE-SEP-AAAA -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT"
            + " --to-destination 10.244.1.5:8080\n";
    String text =
        "$ iptables-save | grep 10.244.1.5:8080\n"
            + rule
            + "$ iptables-save -t nat\n*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SEP-AAAA - [0:0]\n"
            + "-A KUBE-SEP-AAAA -s 10.244.1.5/32 -j KUBE-MARK-MASQ\n"
            + rule
            + "COMMIT\n";
    DoctorReport r = paste(text);
    assertThat(find(r, "duplicate-rules")).isEmpty();
    assertThat(r.assumptions()).anyMatch(a -> a.contains("more than one pasted block"));
  }

  @Test
  void duplicates_sameRuleTwiceInOneSave_reported() {
    // Within one `iptables-save` the rule is written twice in its chain: the node holds it twice.
    String rule =
        "-A KUBE-SEP-AAAA -p tcp -m comment --comment \"default/web:http\" -m tcp -j DNAT"
            + " --to-destination 10.244.1.5:8080\n";
    String text =
        "$ iptables-save -t nat\n*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SEP-AAAA - [0:0]\n"
            + "-A KUBE-SEP-AAAA -s 10.244.1.5/32 -j KUBE-MARK-MASQ\n"
            + rule
            + rule
            + "COMMIT\n";
    assertThat(find(paste(text), "duplicate-rules")).hasSize(1);
  }
}
