package dev.svcproxy.sync;

import static dev.svcproxy.render.iptables.ChainNames.CANARY;
import static dev.svcproxy.render.iptables.ChainNames.EXTERNAL_SERVICES;
import static dev.svcproxy.render.iptables.ChainNames.FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.FORWARD;
import static dev.svcproxy.render.iptables.ChainNames.MARK_MASQ;
import static dev.svcproxy.render.iptables.ChainNames.NODEPORTS;
import static dev.svcproxy.render.iptables.ChainNames.POSTROUTING;
import static dev.svcproxy.render.iptables.ChainNames.PROXY_FIREWALL;
import static dev.svcproxy.render.iptables.ChainNames.SERVICES;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.netfilter.JumpRule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.ChainNames;
import dev.svcproxy.render.iptables.IptablesConfig;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.render.iptables.RenderOptions;
import dev.svcproxy.render.iptables.RenderResult;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Applies rendered iptables rules to the kernel the way upstream's proxier does. */
public final class IptablesProxier {
  private static final Logger LOG = LoggerFactory.getLogger(IptablesProxier.class);

  /** Jump rules from the built-in chains, in upstream's order (each is inserted first). */
  public static final List<JumpRule> JUMPS = JumpRules.KUBE_PROXY;

  /** kubelet's KUBE-FIREWALL jumps, which upstream also ensures (with no comment). */
  public static final List<JumpRule> KUBELET_JUMPS = JumpRules.KUBELET;

  private final IptablesKernel kernel;
  private IptablesConfig cfg;

  public IptablesProxier(IptablesKernel kernel, IptablesConfig cfg) {
    this.kernel = kernel;
    this.cfg = cfg;
  }

  /** Probes the node as upstream does at start: route_localnet, be_liberal, --random-fully. */
  public IptablesConfig probe() {
    if (cfg.localhostNodePorts()) {
      LOG.info("setting route_localnet=1 to allow NodePorts on localhost");
      kernel.setSysctl("net.ipv4.conf.all.route_localnet", "1");
    }
    String liberal = kernel.sysctl("net.netfilter.nf_conntrack_tcp_be_liberal");
    boolean beLiberal = liberal != null && !liberal.equals("0");
    cfg = cfg.withRandomFully(kernel.supportsRandomFully()).withConntrackTcpBeLiberal(beLiberal);
    return cfg;
  }

  public IptablesConfig config() {
    return cfg;
  }

  /**
   * One sync: on a full sync the jump rules, canaries and nfacct counters are ensured first; then
   * one iptables-restore writes the top-level chains and the chains of changed services, and
   * deletes stale service chains. Throws SyncException when the kernel refuses the input; the
   * kernel then still holds the previous rules, since the restore is one transaction.
   */
  public RenderResult sync(ProxyState state, boolean full, Set<String> changed) {
    if (full) {
      for (JumpRule j : JUMPS) {
        kernel.ensureJump(j);
      }
      for (JumpRule j : KUBELET_JUMPS) {
        kernel.ensureJump(j);
      }
      for (String table : List.of("mangle", "nat", "filter")) {
        kernel.ensureChain(table, CANARY);
      }
      cfg =
          cfg.withNfacct(
              kernel.ensureNfacct("localhost_nps_accepted_pkts"),
              kernel.ensureNfacct("ct_state_invalid_dropped_pkts"));
    }
    Table kernelNat = kernel.save("nat").table("nat").orElse(new Table("nat", List.of()));
    Set<String> existing = new java.util.HashSet<>(kernelNat.chains().keySet());
    RenderResult rr =
        new IptablesRenderer(cfg).render(state, new RenderOptions(full, changed, existing));
    Ruleset input = rr.restoreInput();
    if (full) {
      input = UnchangedChains.drop(input, kernelNat);
    }
    CommandResult r = kernel.restore(input.print());
    if (!r.ok()) {
      throw new SyncException("iptables-restore failed: " + r.stderr().strip());
    }
    return rr;
  }

  /** True while the mangle canary exists; its absence means someone flushed the tables. */
  public boolean canaryPresent() {
    return kernel.chainExists("mangle", CANARY);
  }

  /** Removes every jump rule and chain svcproxy installs. */
  public void cleanup() {
    for (JumpRule j : JUMPS) {
      kernel.deleteJump(j);
    }
    for (JumpRule j : KUBELET_JUMPS) {
      kernel.deleteJump(j);
    }
    kernel.deleteChains(
        "nat",
        c ->
            c.equals(SERVICES)
                || c.equals(NODEPORTS)
                || c.equals(POSTROUTING)
                || ChainNames.isServiceChain(c));
    // KUBE-MARK-MASQ may still be referenced by kubelet's rules; then it stays.
    kernel.deleteChains("nat", c -> c.equals(MARK_MASQ) || c.equals(CANARY));
    kernel.deleteChains(
        "filter",
        c ->
            Set.of(
                    SERVICES,
                    EXTERNAL_SERVICES,
                    FORWARD,
                    NODEPORTS,
                    PROXY_FIREWALL,
                    FIREWALL,
                    CANARY)
                .contains(c));
    kernel.deleteChains("mangle", c -> c.equals(CANARY));
  }
}
