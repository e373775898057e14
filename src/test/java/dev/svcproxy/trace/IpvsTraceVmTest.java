package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.vm.TimeScale;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The tracer through IPVS against the real kernel (runs in the VM phase): a small kube-proxy-shaped
 * IPVS node in a throw-away lab (kube-ipvs0, virtual servers, KUBE-CLUSTER-IP / KUBE-IPVS-IPS
 * ipsets, the KUBE-SERVICES masquerade rule and KUBE-IPVS-FILTER, as upstream writes them),
 * captured with the project's capture code; real connections are then checked against the trace of
 * the captured bundle: which real servers answer, with what share, and which source they saw.
 */
@Tag("vm")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IpvsTraceVmTest {
  private static final String VIP = "10.96.0.10";
  private static final String VIP_WRR = "10.96.0.11";
  private static final String VIP_EMPTY = "10.96.0.12";
  private static final String VIP_PERSIST = "10.96.0.13";
  private static final int PORT = 8080;

  private Lab lab;
  private Lab.Node node;
  private Lab.Pod be1;
  private Lab.Pod be2;
  private Lab.Pod podClient;
  private Lab.Client ext;
  private NodeState bundle;

  @BeforeAll
  void build() {
    KernelTests.requireIpvs("IPVS tracer check");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.node("node1");
    be1 = lab.addPod("node1", "be1");
    be2 = lab.addPod("node1", "be2");
    podClient = lab.addPod("node1", "cl");
    ext = lab.addClient("ext");
    for (String vip : List.of(VIP, VIP_WRR, VIP_EMPTY, VIP_PERSIST)) {
      lab.route(ext.netns(), vip, node.ip());
    }
    lab.startBackend(be1, PORT);
    lab.startBackend(be2, PORT);
    String ns = node.netns();
    lab.in(ns, "sysctl", "-qw", "net.ipv4.vs.conntrack=1");
    lab.in(ns, "ip", "link", "add", "kube-ipvs0", "type", "dummy");
    for (String vip : List.of(VIP, VIP_WRR, VIP_EMPTY, VIP_PERSIST)) {
      lab.in(ns, "ip", "addr", "add", vip + "/32", "dev", "kube-ipvs0");
    }
    String services =
        "-A -t VIP:80 -s rr\n-a -t VIP:80 -r BE1 -m -w 1\n-a -t VIP:80 -r BE2 -m -w 1\n"
                .replace("VIP", VIP)
            + "-A -t VIP:80 -s wrr\n-a -t VIP:80 -r BE1 -m -w 1\n-a -t VIP:80 -r BE2 -m -w 0\n"
                .replace("VIP", VIP_WRR)
            + "-A -t "
            + VIP_EMPTY
            + ":80 -s rr\n"
            + "-A -t VIP:80 -s rr -p 60\n-a -t VIP:80 -r BE1 -m -w 1\n-a -t VIP:80 -r BE2 -m -w 1\n"
                .replace("VIP", VIP_PERSIST);
    services = services.replace("BE1", be1.ip() + ":" + PORT).replace("BE2", be2.ip() + ":" + PORT);
    lab.runner()
        .inNetns(ns)
        .run(List.of("ipvsadm", "-R"), services, Duration.ofSeconds(60))
        .orThrow();
    StringBuilder sets =
        new StringBuilder(
            "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
                + "create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536\n");
    for (String vip : List.of(VIP, VIP_WRR, VIP_EMPTY, VIP_PERSIST)) {
      sets.append("add KUBE-CLUSTER-IP ").append(vip).append(",tcp:80\n");
      sets.append("add KUBE-IPVS-IPS ").append(vip).append('\n');
    }
    lab.runner()
        .inNetns(ns)
        .run(List.of("ipset", "restore"), sets.toString(), Duration.ofSeconds(60))
        .orThrow();
    // Upstream's IPVS-mode rules (proxier.go), --cluster-cidr = the lab's pod CIDR.
    String rules =
        """
        *nat
        :KUBE-SERVICES - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-MARK-MASQ - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
        -A KUBE-SERVICES ! -s @CIDR@ -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
        -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
        COMMIT
        *filter
        :KUBE-IPVS-FILTER - [0:0]
        -A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
        -A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
        -A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
        COMMIT
        """
            .replace("@CIDR@", Lab.CLUSTER_CIDR);
    lab.runner()
        .inNetns(ns)
        .run(List.of("iptables-restore", "--noflush"), rules, Duration.ofSeconds(60))
        .orThrow();
    bundle = BundleReader.fromFiles(BundleCapture.capture(lab.runner().inNetns(ns)));
  }

  @AfterAll
  void stop() {
    if (lab != null) {
      lab.close();
    }
  }

  private TraceResult trace(String src, String dst, int port) {
    TraceResult r = new Tracer(bundle).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
    System.out.println(TraceFormatter.text(r));
    return r;
  }

  private List<Connection> connect(String netns, String ip, int port, int n) {
    List<Connection> out = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(lab.connect(netns, ip, port, TimeScale.scale(Duration.ofSeconds(1))));
    }
    return out;
  }

  private String backendOf(String dnat) {
    return dnat.equals(be1.ip() + ":" + PORT)
        ? "be1"
        : dnat.equals(be2.ip() + ":" + PORT) ? "be2" : dnat;
  }

  @Test
  void captured_bundleHoldsTheVirtualServersAndIpvsSysctls() {
    assertThat(bundle.ipvs().byKey().keySet())
        .containsExactly(
            "TCP " + VIP + ":80",
            "TCP " + VIP_WRR + ":80",
            "TCP " + VIP_EMPTY + ":80",
            "TCP " + VIP_PERSIST + ":80");
    assertThat(bundle.sysctl("net.ipv4.vs.conntrack", "")).isEqualTo("1");
  }

  @Test
  void externalClient_rrHalvesMasqueradedToTheBridge_asTheBackendsSee() {
    TraceResult r = trace(ext.ip(), VIP, 80);
    Map<String, Double> traced =
        r.outcomes().stream()
            .collect(Collectors.toMap(o -> backendOf(o.dnat()), Outcome::probability));
    assertThat(traced).isEqualTo(Map.of("be1", 0.5, "be2", 0.5));
    Set<String> sources =
        r.outcomes().stream().map(Outcome::finalSource).collect(Collectors.toSet());
    assertThat(sources).containsExactly(node.bridgeIp());
    Map<String, Integer> seen = new TreeMap<>();
    for (Connection c : connect(ext.netns(), VIP, 80, 4)) {
      assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(c.peer()).isIn(sources);
      seen.merge(c.backend(), 1, Integer::sum);
    }
    // rr alternates strictly: half each, as traced.
    assertThat(seen).isEqualTo(Map.of("be1", 2, "be2", 2));
  }

  @Test
  void podClient_insideTheClusterCidr_notMasqueraded_asTheBackendsSee() {
    TraceResult r = trace(podClient.ip(), VIP, 80);
    assertThat(r.outcomes())
        .hasSize(2)
        .allSatisfy(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.ACCEPT);
              assertThat(o.finalSource()).isEqualTo(podClient.ip());
            });
    for (Connection c : connect(podClient.netns(), VIP, 80, 2)) {
      assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(c.peer()).isEqualTo(podClient.ip());
    }
  }

  @Test
  void nodeItself_sourceVipMarkedInOutputAndMasqueraded_asTheBackendsSee() {
    TraceResult r = trace(null, VIP, 80);
    assertThat(r.outcomes())
        .hasSize(2)
        .allSatisfy(
            o -> {
              assertThat(o.steps().get(1).text()).contains("source address chosen: " + VIP);
              assertThat(o.ipvs().hook()).isEqualTo("OUTPUT");
              assertThat(o.finalSource()).isEqualTo(node.bridgeIp());
            });
    for (Connection c : connect(node.netns(), VIP, 80, 2)) {
      assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
      assertThat(c.peer()).isEqualTo(node.bridgeIp());
    }
  }

  @Test
  void wrrWithWeightZero_onlyTheWeightedServer_asTheKernelChooses() {
    TraceResult r = trace(ext.ip(), VIP_WRR, 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(backendOf(o.dnat())).isEqualTo("be1"));
    for (Connection c : connect(ext.netns(), VIP_WRR, 80, 3)) {
      assertThat(c.backend()).as("%s", c).isEqualTo("be1");
    }
  }

  @Test
  void noRealServer_rejected_andTheKernelRefuses() {
    TraceResult r = trace(ext.ip(), VIP_EMPTY, 80);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(o -> assertThat(o.reasonCode()).isEqualTo(ReasonCode.IPVS_NO_REAL_SERVER));
    assertThat(connect(ext.netns(), VIP_EMPTY, 80, 1).get(0).outcome())
        .isEqualTo(Connection.Outcome.REFUSED);
  }

  @Test
  void unservedPortOfAVip_rejectedByKubeIpvsFilter_andTheKernelRefuses() {
    TraceResult r = trace(ext.ip(), VIP, 443);
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.verdict()).isEqualTo(Verdict.REJECT);
              assertThat(o.steps()).anyMatch(s -> s.chain().equals("KUBE-IPVS-FILTER"));
            });
    assertThat(connect(ext.netns(), VIP, 443, 1).get(0).outcome())
        .isEqualTo(Connection.Outcome.REFUSED);
  }

  @Test
  void persistence_templateCapturedAfterAConnection_pinsTheTrace_andTheKernelKeepsTheServer() {
    // Before any connection: scheduled, half each. After one real connection the kernel holds a
    // persistence template for the client (ipvsadm -Lnc); a bundle captured then pins the trace to
    // the server the kernel chose, and the kernel keeps sending the client there.
    assertThat(trace(ext.ip(), VIP_PERSIST, 80).outcomes()).hasSize(2);
    Connection first = connect(ext.netns(), VIP_PERSIST, 80, 1).get(0);
    assertThat(first.outcome()).as("%s", first).isEqualTo(Connection.Outcome.REPLIED);
    NodeState after =
        BundleReader.fromFiles(BundleCapture.capture(lab.runner().inNetns(node.netns())));
    assertThat(after.ipvsConnections())
        .anyMatch(c -> c.template() && c.clientAddress().equals(ext.ip()));
    TraceResult r =
        new Tracer(after).trace(new PacketSpec(ext.ip(), 40000, VIP_PERSIST, 80, "tcp", null));
    System.out.println(TraceFormatter.text(r));
    assertThat(r.outcomes())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(backendOf(o.dnat())).isEqualTo(first.backend());
              assertThat(o.ipvs().pinnedBy()).contains("persistence template");
            });
    for (Connection c : connect(ext.netns(), VIP_PERSIST, 80, 2)) {
      assertThat(c.backend()).as("%s", c).isEqualTo(first.backend());
    }
  }
}
