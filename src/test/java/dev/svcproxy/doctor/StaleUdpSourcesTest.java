package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Audit 12 #3: stale-udp-conntrack judges a UDP entry against the Service's current endpoints from
 * whatever shows them (iptables KUBE-SEP rules, IPVS real servers, the cluster's objects), and says
 * it did not check when nothing does.
 */
class StaleUdpSourcesTest {
  private static List<Finding> stale(DoctorReport r) {
    return r.findings().stream().filter(f -> f.id().equals("stale-udp-conntrack")).toList();
  }

  /** The reply of a DNS query from 10.244.2.7:41000 to 10.96.0.10:53 came from 10.244.1.9. */
  private static final String ENTRY =
      "udp      17 29 src=10.244.2.7 dst=10.96.0.10 sport=41000 dport=53 [UNREPLIED]"
          + " src=10.244.1.9 dst=10.244.2.7 sport=53 dport=41000 mark=0 use=1\n";

  @Test
  void ipvsRealServers_entryToAGoneOne_reported() {
    // ipvsadm -Sn: UDP 10.96.0.10:53 has the one real server 10.244.1.5:53 now. The entry's
    // reply source 10.244.1.9 is not it: the flow is pinned to a gone endpoint.
    Map<String, String> f =
        Map.of(
            "ipvsadm-save.txt",
            "-A -u 10.96.0.10:53 -s rr\n-a -u 10.96.0.10:53 -r 10.244.1.5:53 -m -w 1\n",
            "conntrack.txt",
            ENTRY);
    List<Finding> s = stale(Doctor.standard().examine(DoctorInputs.files(f, Optional.empty())));
    assertThat(s).hasSize(1);
    assertThat(s.get(0).summary())
        .contains("10.244.2.7:41000 → 10.96.0.10:53 is pinned to 10.244.1.9:53")
        .contains("endpoints now: 10.244.1.5:53");
    assertThat(s.get(0).evidence())
        .extracting(Evidence::where)
        .contains("ipvsadm-save.txt:1", "ipvsadm-save.txt:2");
  }

  @Test
  void ipvsRealServers_entryToTheCurrentOne_notReported() {
    // The same entry answered by 10.244.1.5, the real server: nothing stale.
    Map<String, String> f =
        Map.of(
            "ipvsadm-save.txt",
            "-A -u 10.96.0.10:53 -s rr\n-a -u 10.96.0.10:53 -r 10.244.1.9:53 -m -w 1\n",
            "conntrack.txt",
            ENTRY);
    assertThat(stale(Doctor.standard().examine(DoctorInputs.files(f, Optional.empty())))).isEmpty();
  }

  @Test
  void kubectlTables_entryToAGoneEndpoint_reported() {
    // kubernetes/kubernetes#105657 as the audit's p20: Service 10.97.122.198 5060/UDP with the
    // endpoint 10.244.0.40:5060; the entry's reply comes from 10.244.0.35.
    String paste =
        """
        $ kubectl get svc
        NAME           TYPE        CLUSTER-IP       EXTERNAL-IP   PORT(S)             AGE
        ea1-tasftapp   ClusterIP   10.97.122.198    <none>        5060/UDP            46h
        $ kubectl get ep
        NAME           ENDPOINTS          AGE
        ea1-tasftapp   10.244.0.40:5060   46h
        $ conntrack -L -p udp
        udp      17 119 src=10.244.0.24 dst=10.97.122.198 sport=5060 dport=5060 src=10.244.0.35 dst=10.244.0.24 sport=5060 dport=5060 [ASSURED] mark=0 use=1
        """;
    DoctorReport r =
        Doctor.standard()
            .examine(
                DoctorInputs.paste(
                    List.of(new PastedInput.Source("issue.txt", paste)), Optional.empty()));
    List<Finding> s = stale(r);
    assertThat(s).hasSize(1);
    assertThat(s.get(0).summary())
        .contains("is pinned to 10.244.0.35:5060")
        .contains("endpoints now: 10.244.0.40:5060");
  }

  @Test
  void noEndpointSource_notCheckedSaid() {
    // Only conntrack output: nothing says which endpoints are current.
    DoctorReport r =
        Doctor.standard()
            .examine(DoctorInputs.files(Map.of("conntrack.txt", ENTRY), Optional.empty()));
    assertThat(stale(r)).isEmpty();
    assertThat(r.assumptions())
        .contains(
            "no Service endpoints known (no KUBE-SEP rules, IPVS real servers or cluster"
                + " objects): stale UDP conntrack entries not checked");
  }
}
