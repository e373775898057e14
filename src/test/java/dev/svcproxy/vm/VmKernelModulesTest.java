package dev.svcproxy.vm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The VM's kernel has what kube-proxy's IPVS mode programs: the ipset types, the `set` and `ipvs`
 * matches and the other matches of its rules, on both iptables backends, and the ip_vs sysctls.
 */
@Tag("vm")
class VmKernelModulesTest {
  // Rules in the shape of upstream's IPVS mode (pkg/proxy/ipvs/proxier.go) plus the matches the
  // iptables mode uses; each match needs its xt_ module, each set its ip_set_ type.
  private static final String RULES =
      """
      *nat
      :KUBE-SERVICES - [0:0]
      :KUBE-MARK-MASQ - [0:0]
      :KUBE-POSTROUTING - [0:0]
      -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
      -A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
      -A KUBE-SERVICES -m addrtype --dst-type LOCAL -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
      -A KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
      -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
      -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
      -A KUBE-POSTROUTING -j MASQUERADE --random-fully
      -A KUBE-SERVICES -p tcp -m multiport --dports 80,443 -m statistic --mode random --probability 0.5 -j RETURN
      COMMIT
      *filter
      :KUBE-IPVS-FILTER - [0:0]
      :KUBE-FORWARD - [0:0]
      -A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
      -A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
      -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
      -A KUBE-FORWARD -m ipvs --ipvs --vaddr 10.96.0.10/32 --vport 80 --vdir ORIGINAL --vmethod MASQ -j ACCEPT
      -A KUBE-FORWARD -m physdev --physdev-is-bridged -j ACCEPT
      -A KUBE-FORWARD -m recent --name seen --rcheck --seconds 60 -j ACCEPT
      COMMIT
      """;

  @Test
  void ipvsModeRulesAndSets_bothIptablesBackends_acceptedAndListedBack() {
    KernelTests.requireIpvs("VM kernel modules test");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      String ns = lab.node("node1").netns();
      CommandRunner in = lab.runner().inNetns(ns);
      String sets =
          """
          create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
          create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
          create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
          create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536
          create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
          create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
          add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
          add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2
          add KUBE-NODE-PORT-TCP 30080
          """;
      ok(in.run(List.of("ipset", "restore"), sets, Duration.ofSeconds(60)));
      assertThat(ok(in.run("ipset", "list", "-n")).stdout().lines())
          .contains("KUBE-CLUSTER-IP", "KUBE-LOOP-BACK", "KUBE-NODE-PORT-TCP");
      for (String backend : List.of("nft", "legacy")) {
        ok(in.run(List.of("iptables-" + backend + "-restore"), RULES, Duration.ofSeconds(60)));
        String saved = ok(in.run("iptables-" + backend + "-save")).stdout();
        assertThat(saved)
            .as(backend)
            .contains("--match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE")
            // iptables-nft-save prints "-m ipvs --vaddr 10.96.0.10 --vport 80 ..." (no --ipvs,
            // /32).
            .containsPattern("-m ipvs (--ipvs )?--vaddr 10\\.96\\.0\\.10(/32)? --vport 80")
            .contains("--vdir ORIGINAL --vmethod MASQ")
            .contains("-m physdev --physdev-is-bridged")
            .contains("-m statistic --mode random --probability 0.5");
      }
      // The sysctls upstream's IPVS mode sets exist in a fresh namespace.
      for (String key :
          List.of(
              "conntrack", "conn_reuse_mode", "expire_nodest_conn", "expire_quiescent_template")) {
        ok(in.run("sysctl", "-n", "net.ipv4.vs." + key));
      }
    }
  }

  private static CommandResult ok(CommandResult r) {
    assertThat(r.exitCode()).as("%s: %s", r.argv(), r.stderr()).isZero();
    return r;
  }
}
