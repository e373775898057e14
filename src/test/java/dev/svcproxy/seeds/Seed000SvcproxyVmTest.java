package dev.svcproxy.seeds;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.render.ipvs.IpvsOptions;
import dev.svcproxy.render.ipvs.IpvsRenderer;
import dev.svcproxy.sync.ipvs.IpvsProxier;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.States;
import dev.svcproxy.testutil.vm.TimeScale;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Seed 000 with svcproxy's own IPVS mode programming the node: the node connects to the
 * `kubernetes` Service (ClusterIP 10.96.0.1:443, ClientIP affinity) whose endpoint is the apiserver
 * on another machine's host network. The seed's outcomes per --cluster-cidr, checked on the kernel:
 * the pod CIDR works (the node's address becomes the source); the service CIDR does not (the VIP
 * source is inside it, so nothing masquerades and the reply goes to the VIP elsewhere). Without
 * --cluster-cidr the seed's kube-proxy 1.9 wrote no rule and the connection hung; upstream since PR
 * #63319 (and svcproxy, which follows upstream) masquerades packets whose source is a
 * ClusterIP:port (`KUBE-CLUSTER-IP src,dst`), so that case now works: Seed000IpvsVmTest keeps the
 * 1.9 rules to show the seed's hang. (--masquerade-all is checked with hand-written rules there and
 * in the renderer's tests; each svcproxy sync costs ~15 s of the VM phase's 10 minutes.)
 */
@Tag("vm")
class Seed000SvcproxyVmTest {
  private static final String VIP = "10.96.0.1";

  private static Lab lab;
  private static Lab.Node node;
  private static Lab.Node apiserver;
  private IpvsProxier proxier;

  @BeforeAll
  static void buildLab() {
    KernelTests.requireIpvs("seed 000 with svcproxy's IPVS mode");
    lab = Lab.create(new ProcessCommandRunner(), 2);
    node = lab.node("node1");
    apiserver = lab.node("node2");
    lab.startBackend(new Lab.Pod("apiserver", apiserver.netns(), apiserver.ip(), apiserver), 6443);
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  @AfterEach
  void cleanup() {
    if (proxier != null) {
      proxier.cleanup();
    }
    lab.runner().inNetns(node.netns()).run("conntrack", "-F");
  }

  @Test
  void clusterCidrIsThePodCidr_nodeReachesTheApiserverAsItself() {
    sync(ProxyConfig.defaults("node1", node.ip(), clusterCidr(Lab.CLUSTER_CIDR)));

    Connection c = lab.connect(node.netns(), VIP, 443, TimeScale.scale(Duration.ofSeconds(3)));

    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.peer()).isEqualTo(node.ip());
  }

  @Test
  void clusterCidrIsTheServiceCidr_connectionTimesOut() {
    sync(ProxyConfig.defaults("node1", node.ip(), clusterCidr("10.96.0.0/12")));

    // A connection expected to hang waits a fixed 4 s: in one guest kernel a reply is immediate.
    Connection c = lab.connect(node.netns(), VIP, 443, Duration.ofSeconds(4));

    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.TIMED_OUT);
  }

  @Test
  void noClusterCidr_upstreamSrcDstRule_connectionWorks() {
    sync(ProxyConfig.defaults("node1", node.ip(), LocalTrafficDetector.none()));

    Connection c = lab.connect(node.netns(), VIP, 443, TimeScale.scale(Duration.ofSeconds(3)));

    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.peer()).isEqualTo(node.ip());
  }

  private void sync(ProxyConfig cfg) {
    IpvsRenderer renderer =
        new IpvsRenderer(cfg, IpvsOptions.defaults(), KernelCapabilities.none(), "6.1.0-56-amd64");
    var runner = lab.runner().inNetns(node.netns());
    proxier =
        new IpvsProxier(
            new IpvsKernel(runner),
            new IptablesKernel(runner),
            st -> renderer.render(st, List.of(node.ip())),
            IpvsOptions.defaults());
    proxier.sync(kubernetesService(), true, Set.of());
  }

  private static LocalTrafficDetector clusterCidr(String cidr) {
    return new LocalTrafficDetector(LocalTrafficDetector.Mode.CLUSTER_CIDR, cidr);
  }

  /** The seed's `kubernetes` Service: 443 -> the apiserver's 6443, ClientIP affinity. */
  private static ProxyState kubernetesService() {
    return States.fromYaml(
        """
        apiVersion: v1
        kind: Service
        metadata: {namespace: default, name: kubernetes}
        spec:
          clusterIP: %1$s
          sessionAffinity: ClientIP
          ports: [{name: https, port: 443, targetPort: 6443}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {namespace: default, name: kubernetes, labels: {kubernetes.io/service-name: kubernetes}}
        addressType: IPv4
        ports: [{name: https, port: 6443}]
        endpoints: [{addresses: [%2$s]}]
        """
            .formatted(VIP, apiserver.ip()));
  }
}
