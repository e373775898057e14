package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.trace.bundle.ProxyProcessFacts;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProxyFlagsTest {
  @Test
  void merge_kubeProxyFlags_fillWhatNodeYamlLeavesOut() {
    Map<String, String> files = new HashMap<>();
    files.put(
        ProxyProcessFacts.FILE,
        "42 /usr/local/bin/kube-proxy --hostname-override=worker-3 --proxy-mode ipvs"
            + " --cluster-cidr=10.244.0.0/16\n");
    NodeFacts f = ProxyFlags.merge(NodeFacts.unknown(), BundleFiles.bundle(files));
    assertThat(f.nodeName()).contains("worker-3");
    assertThat(f.proxyMode()).contains("ipvs");
    assertThat(f.clusterCidrs()).containsExactly(Cidr.parse("10.244.0.0/16"));
    assertThat(f.flag("--cluster-cidr")).contains("10.244.0.0/16");

    NodeFacts written =
        NodeFacts.parse("nodeName: worker-3.example\nproxyMode: iptables\n").facts();
    NodeFacts kept = ProxyFlags.merge(written, BundleFiles.bundle(files));
    assertThat(kept.nodeName()).contains("worker-3.example");
    assertThat(kept.proxyMode()).contains("iptables");
  }
}
