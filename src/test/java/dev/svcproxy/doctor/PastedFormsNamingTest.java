package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * One paste per input form the issue names, as a user pastes it into a GitHub issue (prompts and
 * all), in which the doctor NAMES a finding from what the form itself shows, its evidence citing
 * the pasted file and line. Each finding rests on something the paste shows (a REJECT or DROP rule,
 * a policy DROP, an address on kube-ipvs0, a conntrack entry, a DNAT to an endpoint), not on the
 * absence of what a fragment leaves out. The expected ids are reasoned in each test.
 */
class PastedFormsNamingTest {
  private static DoctorReport examine(String name, String text) {
    return Doctor.standard()
        .examine(DoctorInputs.paste(List.of(new PastedInput.Source(name, text)), Optional.empty()));
  }

  private static Finding finding(DoctorReport r, String id) {
    assertThat(r.findings()).as(DoctorFormatter.text(r)).extracting(Finding::id).contains(id);
    return r.findings().stream().filter(f -> f.id().equals(id)).findFirst().orElseThrow();
  }

  @Test
  void grepppedIptablesSave_rejectRuleForTheService_namesNoEndpoints() {
    // kube-proxy programs "-j REJECT" in filter KUBE-SERVICES for a Service port without any
    // endpoint: the one grepped line shows it, so no-endpoints is named from it alone.
    String text =
        """
        [root@node1 ~]# iptables-save | grep web
        -A KUBE-SERVICES -d 10.96.12.34/32 -p tcp -m comment --comment "default/web:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
        """;
    Finding f = finding(examine("issue.txt", text), "no-endpoints");
    assertThat(f.evidence().get(0).where()).isEqualTo("issue.txt:2");
    assertThat(f.evidence().get(0).text()).contains("REJECT").contains("10.96.12.34/32");
  }

  @Test
  void iptablesListForward_policyDropWithADockerOnlyRules_namesForwardPolicyDrop() {
    // `iptables -L FORWARD -n -v` shows policy DROP and only Docker's docker0 rules; `ip addr`
    // shows the pod bridge cni0 (10.244.0.1/24, a veth port) and `ip route` the other node's pod
    // subnet via flannel.1. A pod 10.244.0.x to 10.244.1.2 is forwarded cni0 -> flannel.1: no rule
    // matches (none names cni0 or flannel.1), the policy drops it.
    String text =
        """
        $ sudo iptables -L FORWARD -n -v
        Chain FORWARD (policy DROP 1532 packets, 91920 bytes)
         pkts bytes target     prot opt in     out     source               destination
            0     0 ACCEPT     all  --  *      docker0  0.0.0.0/0            0.0.0.0/0            ctstate RELATED,ESTABLISHED
            0     0 ACCEPT     all  --  docker0 !docker0  0.0.0.0/0            0.0.0.0/0
            0     0 ACCEPT     all  --  docker0 docker0  0.0.0.0/0            0.0.0.0/0
        $ ip addr
        1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
            inet 127.0.0.1/8 scope host lo
        2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000
            inet 192.168.1.10/24 brd 192.168.1.255 scope global eth0
        4: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP group default qlen 1000
            inet 10.244.0.1/24 brd 10.244.0.255 scope global cni0
        6: veth3a1b2c4d@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master cni0 state UP group default
        $ ip route
        default via 192.168.1.1 dev eth0
        10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
        10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink
        192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.10
        """;
    Finding f = finding(examine("forward.txt", text), "forward-policy-drop");
    assertThat(f.evidence())
        .anyMatch(
            e ->
                e.where().contains("svcproxy trace --src 10.244.0.")
                    && e.where().contains("--dst 10.244.1.2:80")
                    && e.text().contains("dropped by filter FORWARD policy DROP"));
    // The policy and rules are cited as iptables-save.txt without a pasted line: the listing's
    // lines are not found by NodeNetwork.policyLine/ruleLine (doctor/checks, not this class's
    // owner's; see the report). The rules shown are the listing's, converted.
    assertThat(f.evidence()).anyMatch(e -> e.text().equals(":FORWARD DROP"));
    assertThat(f.evidence()).anyMatch(e -> e.text().contains("-i docker0 ! -o docker0"));
  }

  @Test
  void ipvsadmListAndKubeIpvs0_externalAddressBound_namesLbIpBoundLocally() {
    // 203.0.113.10 is bound on kube-ipvs0 and IPVS serves it on port 80 only: the node owns the
    // address (any other port goes to its own stack), which is seed 001's lb-ip-bound-locally.
    // The kubectl table says it is a LoadBalancer IP: an address on kube-ipvs0 whose kind nothing
    // shows is not called one (every Service has a ClusterIP there too).
    String text =
        """
        $ ip addr show kube-ipvs0
        5: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default
            link/ether 9a:3c:51:0e:6f:21 brd ff:ff:ff:ff:ff:ff
            inet 10.96.0.1/32 scope global kube-ipvs0
               valid_lft forever preferred_lft forever
            inet 203.0.113.10/32 scope global kube-ipvs0
               valid_lft forever preferred_lft forever
        $ ipvsadm -Ln
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
        TCP  10.96.0.1:443 rr
          -> 192.168.1.10:6443            Masq    1      3          0
        TCP  203.0.113.10:80 rr
          -> 10.244.1.5:80                Masq    1      0          0
        $ kubectl get svc -o wide
        NAME   TYPE           CLUSTER-IP     EXTERNAL-IP    PORT(S)        AGE   SELECTOR
        web    LoadBalancer   10.96.45.12    203.0.113.10   80:30080/TCP   3d    app=web
        """;
    DoctorReport r = examine("ipvs.txt", text);
    assertThat(r.findings())
        .filteredOn(f -> f.id().equals("lb-ip-bound-locally"))
        .anyMatch(
            f ->
                f.evidence()
                    .contains(
                        new Evidence(
                            "ipvs.txt:6", "inet 203.0.113.10/32 scope global kube-ipvs0")));
  }

  @Test
  void ipRouteText_endpointSubnetWithoutRoute_namesNoRouteToEndpoint() {
    // The DNAT goes to 10.244.3.7; `ip route` has routes to 10.244.0.0/24 (here) and
    // 10.244.1.0/24 (another node) only, and no default route: the endpoint is unreachable.
    String text =
        """
        $ iptables-save -t nat | grep web
        -A KUBE-SERVICES -d 10.96.12.34/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB4ABCDEFGHIJKL
        -A KUBE-SVC-WEB4ABCDEFGHIJKL -m comment --comment "default/web:http -> 10.244.3.7:8080" -j KUBE-SEP-WEBSEP1234567890
        -A KUBE-SEP-WEBSEP1234567890 -s 10.244.3.7/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
        -A KUBE-SEP-WEBSEP1234567890 -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.3.7:8080
        $ ip route
        10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
        10.244.1.0/24 via 192.168.1.11 dev eth0
        192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.10
        """;
    Finding f = finding(examine("routes.txt", text), "no-route-to-endpoint");
    assertThat(f.summary()).contains("10.244.3.7");
    assertThat(f.evidence().get(0).where()).isEqualTo("routes.txt:5");
    assertThat(f.evidence().get(0).text()).contains("--to-destination 10.244.3.7:8080");
  }

  @Test
  void kubectlGetSvcEpWide_endpointsNone_withRejectFragment_namesNoEndpoints() {
    // The table shows endpoints/web <none>, and the node's REJECT for 10.96.12.34:80: the Service
    // has no endpoint at all (info: the proxy does what it should).
    String text =
        """
        $ kubectl get svc,ep -o wide
        NAME                 TYPE        CLUSTER-IP     EXTERNAL-IP   PORT(S)   AGE   SELECTOR
        service/kubernetes   ClusterIP   10.96.0.1      <none>        443/TCP   10d   <none>
        service/web          ClusterIP   10.96.12.34    <none>        80/TCP    1d    app=web

        NAME                   ENDPOINTS         AGE
        endpoints/kubernetes   172.18.0.2:6443   10d
        endpoints/web          <none>            1d
        $ iptables-save | grep 10.96.12.34
        -A KUBE-SERVICES -d 10.96.12.34/32 -p tcp -m comment --comment "default/web has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
        """;
    Finding f = finding(examine("svc.txt", text), "no-endpoints");
    assertThat(f.summary()).contains("default/web");
    assertThat(f.evidence().get(0).where()).isEqualTo("svc.txt:10");
  }

  @Test
  void kubectlYaml_endpointOnThisNodeUnderAnotherNodeName_namesEtpLocalNodeNameMismatch() {
    // eTP=Local NodePort 30080 is dropped in KUBE-EXTERNAL-SERVICES ("has no local endpoints"),
    // yet the slice's only endpoint 10.244.0.7 is routed to a cali* device of this node (a /32
    // host route, as Calico programs its pods): the pod is here, but under a nodeName the
    // proxy does not take for its own.
    String text =
        """
        $ iptables-save | grep web
        -A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "shop/web:http has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j DROP
        $ ip route
        default via 192.168.1.1 dev eth0
        10.244.0.7 dev cali8d2f1e3b5a4 scope link
        192.168.1.0/24 dev eth0 proto kernel scope link src 192.168.1.10
        $ kubectl get svc,endpointslices -n shop -o yaml
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Service
          metadata: {name: web, namespace: shop}
          spec:
            type: NodePort
            clusterIP: 10.96.12.34
            externalTrafficPolicy: Local
            ports:
            - {name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}
        - apiVersion: discovery.k8s.io/v1
          kind: EndpointSlice
          metadata:
            name: web-x7k2p
            namespace: shop
            labels: {kubernetes.io/service-name: web}
          addressType: IPv4
          ports: [{name: http, port: 8080, protocol: TCP}]
          endpoints:
          - addresses: [10.244.0.7]
            nodeName: ip-192-168-1-10.ec2.internal
            conditions: {ready: true}
        """;
    Finding f = finding(examine("yaml.txt", text), "etp-local-node-name-mismatch");
    assertThat(f.evidence().get(0).where()).isEqualTo("yaml.txt:2");
    assertThat(f.evidence()).anyMatch(e -> e.text().contains("ip-192-168-1-10.ec2.internal"));
  }

  @Test
  void conntrackList_unrepliedEntryWithoutDnat_namesStaleUdpConntrack() {
    // The DNS VIP 10.96.0.10:53 DNATs to 10.244.1.3:53 now, but the UNREPLIED entry's reply
    // tuple comes from 10.96.0.10 itself: it was made while the Service had no endpoint, and
    // every later query from port 41234 follows it to nothing (the "no DNAT at all" variant).
    String text =
        """
        $ iptables-save | grep kube-dns:dns
        -A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
        -A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.3:53" -j KUBE-SEP-IT2ZTR26TO4XFPTO
        -A KUBE-SEP-IT2ZTR26TO4XFPTO -s 10.244.1.3/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
        -A KUBE-SEP-IT2ZTR26TO4XFPTO -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.1.3:53
        $ conntrack -L -p udp --dport 53
        udp      17 29 src=10.244.1.9 dst=10.96.0.10 sport=41234 dport=53 [UNREPLIED] src=10.96.0.10 dst=10.244.1.9 sport=53 dport=41234 mark=0 use=1
        conntrack v1.4.6 (conntrack-tools): 1 flow entries have been shown.
        """;
    Finding f = finding(examine("ct.txt", text), "stale-udp-conntrack");
    assertThat(f.evidence().get(0).where()).isEqualTo("ct.txt:7");
    assertThat(f.fix())
        .contains("conntrack -D -p udp -s 10.244.1.9 -d 10.96.0.10 --sport 41234 --dport 53");
  }
}
