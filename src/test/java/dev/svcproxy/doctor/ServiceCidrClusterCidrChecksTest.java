package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * missing-cluster-cidr in iptables mode with the service CIDR as --cluster-cidr, on a hand-written
 * nat table shaped as the lab's (ServiceCidrAsClusterCidrLabTest measures the kernel): the KUBE-SVC
 * masquerade rule exempting 10.96.0.0/12 is a warning; the pod CIDR there is no finding. Line
 * numbers counted by hand.
 */
class ServiceCidrClusterCidrChecksTest {
  private static String nat(String exempt) {
    return """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        :KUBE-MARK-MASQ - [0:0]
        :KUBE-POSTROUTING - [0:0]
        :KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]
        :KUBE-SERVICES - [0:0]
        :KUBE-SVC-BBBBBBBBBBBBBBBB - [0:0]
        -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
        -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
        -A KUBE-SEP-AAAAAAAAAAAAAAAA -s 10.244.2.2/32 -m comment --comment "default/web-local:http" -j KUBE-MARK-MASQ
        -A KUBE-SEP-AAAAAAAAAAAAAAAA -p tcp -m comment --comment "default/web-local:http" -m tcp -j DNAT --to-destination 10.244.2.2:8080
        -A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment "default/web-local:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-BBBBBBBBBBBBBBBB
        -A KUBE-SVC-BBBBBBBBBBBBBBBB ! -s EXEMPT -d 10.96.0.11/32 -p tcp -m comment --comment "default/web-local:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
        -A KUBE-SVC-BBBBBBBBBBBBBBBB -m comment --comment "default/web-local:http -> 10.244.2.2:8080" -j KUBE-SEP-AAAAAAAAAAAAAAAA
        COMMIT
        """
        .replace("EXEMPT", exempt);
  }

  private static List<Finding> findings(String exempt) {
    return Doctor.standard()
        .examine(DoctorInputs.files(Map.of("iptables-save.txt", nat(exempt)), Optional.empty()))
        .findings()
        .stream()
        .filter(f -> f.id().equals("missing-cluster-cidr"))
        .toList();
  }

  @Test
  void serviceCidrExempted_warningCitingTheServiceChainRule() {
    List<Finding> f = findings("10.96.0.0/12");
    assertThat(f).singleElement();
    assertThat(f.get(0).severity()).isEqualTo(Severity.WARNING);
    assertThat(f.get(0).summary())
        .isEqualTo(
            "The ClusterIP masquerade rules exempt 10.96.0.0/12, which holds the ClusterIPs"
                + " themselves: --cluster-cidr is the service CIDR");
    assertThat(f.get(0).evidence())
        .extracting(Evidence::where)
        .contains("iptables-save.txt:20", "iptables-save.txt:21");
    assertThat(f.get(0).explanation()).contains("so are the pods");
  }

  @Test
  void podCidrExempted_noFinding() {
    assertThat(findings("10.244.0.0/16")).isEmpty();
  }
}
