package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * host-firewall-rejects-vip with firewalld's nftables backend (its default since 0.6 / RHEL 8): the
 * reject sits in table {@code inet firewalld}, chain {@code filter_INPUT} (hook input, priority
 * filter + 10), not in an iptables filter table. The ruleset is firewalld's layout as `nft -a list
 * ruleset` prints it (base chain, zone dispatch, zone chain, final {@code reject with icmpx
 * admin-prohibited}), the node is IpvsCheckTest's IPVS pod node without any iptables filter rules.
 */
class HostFirewallNftTest {
  /** firewalld's table: ssh allowed in the public zone, everything else rejected. */
  static String firewalld(String last) {
    return """
        table inet firewalld { # handle 1
        	chain filter_INPUT { # handle 1
        		type filter hook input priority filter + 10; policy accept;
        		ct state { established, related } accept # handle 4
        		ct status dnat accept # handle 5
        		iifname "lo" accept # handle 6
        		ct state invalid drop # handle 7
        		jump filter_INPUT_ZONES # handle 8
        		%s # handle 9
        	}
        	chain filter_INPUT_ZONES { # handle 2
        		iifname "eth0" goto filter_IN_public # handle 10
        		goto filter_IN_public # handle 11
        	}
        	chain filter_IN_public { # handle 3
        		jump filter_IN_public_allow # handle 12
        		meta l4proto { icmp, ipv6-icmp } accept # handle 13
        	}
        	chain filter_IN_public_allow { # handle 14
        		tcp dport 22 accept # handle 15
        	}
        }
        """
        .formatted(last);
  }

  private static Map<String, String> node(String nft) {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", IpvsCheckTest.ADDR_POD_NODE);
    f.put("ip-route.txt", IpvsCheckTest.ROUTES_POD_NODE);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put("iptables-save.txt", IpvsCheckTest.NAT_IPVS + IpvsCheckTest.filter(""));
    f.put(
        "ipset-save.txt",
        "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            + "add KUBE-CLUSTER-IP 10.96.0.10,tcp:80\n");
    f.put(
        "ipvsadm-save.txt",
        "-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.2.5:80 -m -w 1\n");
    f.put("nft-ruleset.txt", nft);
    return f;
  }

  private static List<Finding> find(DoctorReport r, String id) {
    return r.findings().stream().filter(f -> f.id().equals(id)).toList();
  }

  private static DoctorReport examine(Map<String, String> files) {
    return Doctor.standard().examine(DoctorInputs.files(files, Optional.empty()));
  }

  @Test
  void firewalldNftReject_podToClusterIp_namedRejectsCitingTheNftRule() {
    // A pod (10.244.1.x behind cni0) → 10.96.0.10:80: the VIP is bound on kube-ipvs0, so the
    // packet is local and walks INPUT; IPVS takes it only at LOCAL_IN, after firewalld's
    // filter_INPUT (priority filter + 10), whose zone chain accepts only ssh and whose last rule
    // rejects (icmpx admin-prohibited): the pod gets "No route to host" from its ClusterIP.
    String nft = firewalld("reject with icmpx admin-prohibited");
    DoctorReport r = examine(node(nft));
    List<Finding> f = find(r, "host-firewall-rejects-vip");
    assertThat(f).hasSize(1);
    assertThat(f.get(0).summary()).contains("rejects").contains("TCP 10.96.0.10:80");
    // Line 9 of the listing is the reject (the table line, the chain line, the hook line, five
    // rules, then it).
    assertThat(f.get(0).evidence())
        .extracting(Evidence::toString)
        .anyMatch(
            e ->
                e.startsWith("nft-ruleset.txt:9: inet firewalld filter_INPUT: reject with icmpx")
                    && e.contains("admin-prohibited"));
  }

  @Test
  void firewalldNftDrop_podToClusterIp_namedDropsFromTheVerdict() {
    // The same layout with a zone whose target is DROP (firewall-cmd --set-target=DROP): the
    // verdict is a drop, so the summary says "drops" (the pod's connection times out).
    DoctorReport r = examine(node(firewalld("drop")));
    List<Finding> f = find(r, "host-firewall-rejects-vip");
    assertThat(f).hasSize(1);
    assertThat(f.get(0).summary()).contains("drops").doesNotContain("rejects");
  }

  @Test
  void firewalldNftAcceptingPods_notNamed() {
    // The pod network trusted before the reject (firewall-cmd --zone=trusted --add-source=...):
    // nothing at INPUT ends the packet, IPVS takes it.
    DoctorReport r =
        examine(
            node(
                firewalld("reject with icmpx admin-prohibited")
                    .replace(
                        "ct status dnat accept # handle 5",
                        "ct status dnat accept # handle 5\n\t\tip saddr 10.244.0.0/16 accept")));
    assertThat(find(r, "host-firewall-rejects-vip")).isEmpty();
  }
}
