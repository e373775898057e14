package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One pasted fragment per input form the issue names (each with ip_forward=0 pasted beside it, the
 * check on main), read as a person pastes it into an issue: the form's content must reach the node
 * or the cluster's objects exactly as the hand reasoning in each test says, the finding must cite
 * the pasted file and line, and what was assumed must be said.
 */
class PastedInputTest {
  @TempDir Path dir;

  private static final String FORWARD_OFF =
      """
      $ sysctl net.ipv4.ip_forward
      net.ipv4.ip_forward = 0
      """;

  private static DoctorInput paste(String name, String text) {
    return DoctorInputs.paste(List.of(new PastedInput.Source(name, text)), Optional.empty());
  }

  private static DoctorReport examine(DoctorInput in) {
    return Doctor.standard().examine(in);
  }

  /** The ip-forward-off finding, citing {@code where}. */
  private static void assertForwardOff(DoctorReport r, String where) {
    assertThat(r.findings()).extracting(Finding::id).containsExactly("ip-forward-off");
    assertThat(r.findings().get(0).evidence())
        .containsExactly(new Evidence(where, "net.ipv4.ip_forward = 0"));
  }

  private static Table table(NodeState n, String name) {
    return n.iptables().get(0).table(name).orElseThrow();
  }

  @Test
  void paste_grepppedIptablesSaveFragment_tracesItsDnatAndNamesFinding() {
    // `iptables-save | grep KUBE` on a node: no *nat header, no COMMIT, no chain declarations.
    String text =
        """
        [root@node1 ~]# iptables-save | grep KUBE
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
        -A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ
        -A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.3:53" -j KUBE-SEP-AAAAAAAAAAAAAAAA
        -A KUBE-SEP-AAAAAAAAAAAAAAAA -s 10.244.1.3/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
        -A KUBE-SEP-AAAAAAAAAAAAAAAA -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.1.3:53
        [root@node1 ~]# sysctl -a | grep ip_forward
        net.ipv4.ip_forward = 0
        """;
    DoctorInput in = paste("issue.txt", text);
    // DNAT and the KUBE-SERVICES jump from PREROUTING belong to nat: a pod's packet to the DNS
    // VIP is rewritten to the only endpoint (before routing, which the paste does not show).
    assertThat(table(in.node(), "nat").rules("KUBE-SERVICES")).hasSize(1);
    TraceResult t =
        new DoctorContext(in)
            .trace(new PacketSpec("10.244.1.9", 40000, "10.96.0.10", 53, "udp", "cni0"));
    assertThat(t.outcomes()).extracting(o -> o.dnat()).containsOnly("10.244.1.3:53");
    DoctorReport r = examine(in);
    assertForwardOff(r, "issue.txt:9");
    assertThat(r.assumptions())
        .anyMatch(a -> a.startsWith("issue.txt:1-7: read as pasted `iptables-save"));
    assertThat(r.confidence()).isEqualTo(DoctorReport.Confidence.LOW);
  }

  @Test
  void paste_iptablesListNatAndFilter_readIntoTheirTables() {
    String text =
        """
        $ iptables -t nat -L KUBE-SERVICES -n -v
        Chain KUBE-SERVICES (2 references)
         pkts bytes target     prot opt in     out     source               destination
            0     0 KUBE-SVC-NPX46M4PTMTKRN6Y  tcp  --  *      *       0.0.0.0/0            10.96.0.1            /* default/kubernetes:https cluster IP */ tcp dpt:443

        $ iptables -L FORWARD -n -v
        Chain FORWARD (policy DROP 12 packets, 720 bytes)
         pkts bytes target     prot opt in     out     source               destination
           40  2400 ACCEPT     all  --  docker0 *       0.0.0.0/0            0.0.0.0/0
        """
            + FORWARD_OFF;
    DoctorInput in = paste("lists.txt", text);
    // The prompt's -t nat puts the first listing in nat; the second names no table: filter.
    List<dev.svcproxy.netfilter.Rule> svc = table(in.node(), "nat").rules("KUBE-SERVICES");
    assertThat(svc).hasSize(1);
    assertThat(svc.get(0).print())
        .contains("-d 10.96.0.1")
        .contains("--dport 443")
        .contains("-j KUBE-SVC-NPX46M4PTMTKRN6Y");
    Table filter = table(in.node(), "filter");
    assertThat(filter.chainDecl("FORWARD").orElseThrow().policy()).isEqualTo("DROP");
    assertThat(filter.rules("FORWARD").get(0).print()).contains("-i docker0").contains("ACCEPT");
    assertForwardOff(examine(in), "lists.txt:11");
  }

  @Test
  void paste_ipvsadmListing_readIntoTheIpvsTable() {
    String text =
        """
        root@node1:~# ipvsadm -Ln
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
        TCP  10.96.0.1:443 rr
          -> 172.18.0.2:6443              Masq    1      0          0
        """
            + FORWARD_OFF;
    DoctorInput in = paste("ipvs.txt", text);
    var services = in.node().ipvs().services();
    assertThat(services).hasSize(1);
    assertThat(services.get(0).toString()).contains("10.96.0.1").contains("443");
    assertThat(services.get(0).toString()).contains("172.18.0.2").contains("6443");
    assertForwardOff(examine(in), "ipvs.txt:8");
  }

  @Test
  void paste_ipRouteText_readIntoRoutes() {
    String text =
        """
        $ ip route
        default via 172.18.0.1 dev eth0
        10.244.1.0/24 via 172.18.0.3 dev eth0
        172.18.0.0/16 dev eth0 proto kernel scope link src 172.18.0.2
        """
            + FORWARD_OFF;
    DoctorInput in = paste("routes.txt", text);
    assertThat(in.node().routes())
        .filteredOn(r -> r.table().equals("main"))
        .extracting(NodeState.Route::dst, NodeState.Route::gateway)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("0.0.0.0/0", "172.18.0.1"),
            org.assertj.core.groups.Tuple.tuple("10.244.1.0/24", "172.18.0.3"),
            org.assertj.core.groups.Tuple.tuple("172.18.0.0/16", ""));
    assertForwardOff(examine(in), "routes.txt:6");
  }

  @Test
  void paste_conntrackList_readIntoEntries() {
    String text =
        """
        $ conntrack -L -p udp
        udp      17 29 src=10.244.1.9 dst=10.96.0.10 sport=41234 dport=53 [UNREPLIED] src=10.96.0.10 dst=10.244.1.9 sport=53 dport=41234 mark=0 use=1
        conntrack v1.4.6 (conntrack-tools): 1 flow entries have been shown.
        """
            + FORWARD_OFF;
    DoctorInput in = paste("ct.txt", text);
    // Unreplied, and not DNATed: the reply tuple comes from the VIP itself.
    assertThat(in.node().conntrack()).hasSize(1);
    NodeState.ConntrackEntry e = in.node().conntrack().get(0);
    assertThat(e.original()).isEqualTo(new NodeState.Tuple("10.244.1.9", "10.96.0.10", 41234, 53));
    assertThat(e.reply()).isEqualTo(new NodeState.Tuple("10.96.0.10", "10.244.1.9", 53, 41234));
    assertThat(e.seenReply()).isFalse();
    assertForwardOff(examine(in), "ct.txt:5");
  }

  private static final ServicePortName WEB =
      new ServicePortName("default", "web", "", Protocol.TCP);

  @Test
  void paste_kubectlGetSvcEpWide_readIntoServicesAndEndpoints() {
    String text =
        """
        $ kubectl get svc,ep -o wide
        NAME                 TYPE        CLUSTER-IP     EXTERNAL-IP   PORT(S)        AGE   SELECTOR
        service/kubernetes   ClusterIP   10.96.0.1      <none>        443/TCP        10d   <none>
        service/web          NodePort    10.96.12.34    <none>        80:30080/TCP   1d    app=web

        NAME                   ENDPOINTS                         AGE
        endpoints/kubernetes   172.18.0.2:6443                   10d
        endpoints/web          10.244.1.5:8080,10.244.2.7:8080   1d
        """
            + FORWARD_OFF;
    DoctorInput in = paste("svc.txt", text);
    ProxyState c = in.cluster().orElseThrow();
    ServicePortInfo web = c.services().get(WEB);
    assertThat(web.clusterIP()).isEqualTo("10.96.12.34");
    assertThat(web.port()).isEqualTo(80);
    assertThat(web.nodePort()).isEqualTo(30080);
    assertThat(c.endpointsOf(WEB))
        .extracting(Endpoint::ip, Endpoint::port)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("10.244.1.5", 8080),
            org.assertj.core.groups.Tuple.tuple("10.244.2.7", 8080));
    assertThat(c.endpointsOf(new ServicePortName("default", "kubernetes", "", Protocol.TCP)))
        .extracting(Endpoint::ip)
        .containsExactly("172.18.0.2");
    DoctorReport r = examine(in);
    assertForwardOff(r, "svc.txt:10");
    assertThat(r.assumptions())
        .anyMatch(a -> a.contains("assumed to be in namespace default"))
        .anyMatch(a -> a.contains("traffic policies Cluster"));
  }

  @Test
  void paste_kubectlTruncatedEndpoints_warnsWithLine() {
    String text =
        """
        $ kubectl get ep -A -o wide
        NAMESPACE   NAME   ENDPOINTS                                     AGE
        shop        web    10.244.1.5:8080,10.244.2.7:8080 + 3 more...   1d
        """;
    DoctorInput in = paste("ep.txt", text);
    assertThat(in.warnings()).anyMatch(w -> w.startsWith("ep.txt:3: kubectl showed only some"));
    assertThat(in.cluster().orElseThrow().endpoints().values().iterator().next()).hasSize(2);
  }

  @Test
  void paste_kubectlGetEndpointSlicesWide_readIntoSlices() {
    String text =
        """
        $ kubectl get svc,endpointslices -o wide
        NAME          TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)   AGE   SELECTOR
        service/web   ClusterIP   10.96.12.34   <none>        80/TCP    1d    app=web

        NAME                                       ADDRESSTYPE   PORTS   ENDPOINTS               AGE
        endpointslice.discovery.k8s.io/web-x7k2p   IPv4          8080    10.244.1.5,10.244.2.7   1d
        """
            + FORWARD_OFF;
    DoctorInput in = paste("slices.txt", text);
    ProxyState c = in.cluster().orElseThrow();
    assertThat(c.endpointsOf(WEB))
        .extracting(Endpoint::ip, Endpoint::port)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("10.244.1.5", 8080),
            org.assertj.core.groups.Tuple.tuple("10.244.2.7", 8080));
    DoctorReport r = examine(in);
    assertForwardOff(r, "slices.txt:8");
    assertThat(r.assumptions()).anyMatch(a -> a.contains("without the generated suffix"));
  }

  @Test
  void paste_kubectlGetYaml_readIntoServicesAndSlices() {
    String text =
        """
        $ kubectl get svc,endpointslices -n shop -o yaml
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Service
          metadata: {name: web, namespace: shop}
          spec:
            type: ClusterIP
            clusterIP: 10.96.12.34
            externalTrafficPolicy: Cluster
            ports:
            - {name: http, port: 80, targetPort: 8080, protocol: TCP}

        - apiVersion: discovery.k8s.io/v1
          kind: EndpointSlice
          metadata:
            name: web-x7k2p
            namespace: shop
            labels: {kubernetes.io/service-name: web}
          addressType: IPv4
          ports: [{name: http, port: 8080, protocol: TCP}]
          endpoints:
          - addresses: [10.244.2.7]
            nodeName: node2
            conditions: {ready: true}
        """
            + FORWARD_OFF;
    DoctorInput in = paste("yaml.txt", text);
    ServicePortName http = new ServicePortName("shop", "web", "http", Protocol.TCP);
    List<Endpoint> eps = in.cluster().orElseThrow().endpointsOf(http);
    assertThat(eps)
        .extracting(Endpoint::ip, Endpoint::nodeName)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("10.244.2.7", "node2"));
    assertForwardOff(examine(in), "yaml.txt:28");
  }

  @Test
  void paste_withoutPrompts_recognisesEachBlockByContent() {
    // Pasted into an issue in code fences, no prompts, one block after another.
    String text =
        """
        ```
        -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
        ```

        ```
        default via 172.18.0.1 dev eth0
        ```
        TCP  10.96.0.1:443 rr
          -> 172.18.0.2:6443              Masq    1      0          0

        net.ipv4.ip_forward = 0

        Some words of the issue's author.
        """;
    PastedInput.Split s = PastedInput.split(List.of(new PastedInput.Source("i.md", text)));
    assertThat(s.blocks())
        .extracting(PastedInput.Block::kind)
        .containsExactly(
            PastedInput.Kind.IPTABLES,
            PastedInput.Kind.ROUTE,
            PastedInput.Kind.IPVS,
            PastedInput.Kind.SYSCTL);
    assertThat(s.unrecognised())
        .containsExactly(
            "i.md:13: not recognised as the output of a command the doctor reads, not read: Some"
                + " words of the issue's author.");
  }

  @Test
  void paste_hostileText_controlCharactersReplacedAndBadLinesCited() {
    String text =
        "$ iptables-save\n"
            + "*nat\n"
            + "-A KUBE-SERVICES -d 10.96.0.999/32 -j KUBE-SVC-X\n"
            + "COMMIT\n"
            + "$ sysctl net.ipv4.ip_forward\n"
            + "net.ipv4.ip_forward = 0\u001b[2J\n";
    DoctorInput in = paste("evil.txt", text);
    assertThat(in.warnings())
        .anyMatch(w -> w.startsWith("evil.txt:6: control characters"))
        .anyMatch(w -> w.startsWith("evil.txt:3: "));
    assertThat(String.join("\n", in.warnings())).doesNotContain("\u001b");
    assertThat(in.files().text("sysctl.txt").orElseThrow()).doesNotContain("\u001b");
  }

  @Test
  void bundle_filesUnderAnyName_areReadAsPastedOutput() throws Exception {
    Files.writeString(dir.resolve("sysctl.txt"), "net.ipv4.conf.all.rp_filter = 0\n");
    Files.writeString(
        dir.resolve("from-the-node"), "some notes\n\n$ sysctl -a\nnet.ipv4.ip_forward = 0\n");
    DoctorReport r = examine(DoctorInputs.bundle(dir, Optional.empty()));
    assertForwardOff(r, dir.resolve("from-the-node") + ":4");
    assertThat(r.assumptions())
        .contains("sysctl.txt and pasted output of the same command were read together");
  }

  @Test
  void bundle_onlyBundleFiles_readAsBefore() throws Exception {
    Files.writeString(dir.resolve("sysctl.txt"), "net.ipv4.ip_forward = 0\n");
    assertForwardOff(examine(DoctorInputs.bundle(dir, Optional.empty())), "sysctl.txt:1");
  }
}
