package dev.svcproxy.cli;

import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.NftKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.sync.ipvs.IpvsProxier;
import dev.svcproxy.sync.nftables.NftablesProxier;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Removes every rule and chain svcproxy installed, in either mode. */
@Command(
    name = "cleanup",
    mixinStandardHelpOptions = true,
    description = {
      "Remove every iptables rule and chain svcproxy (or kube-proxy) installed.",
      "Like upstream's --cleanup it also removes IPVS mode's state (virtual servers, kube-ipvs0,",
      "its chains and ipsets) when there is a sign of it, or always with --mode ipvs, and",
      "nftables mode's ip and ip6 kube-proxy tables."
    })
final class CleanupCommand implements Callable<Integer> {
  @Option(
      names = "--mode",
      defaultValue = "iptables",
      paramLabel = "MODE",
      description =
          "iptables, ipvs or nftables: ipvs flushes the IPVS table even with no kube-ipvs0.")
  String mode;

  @Override
  public Integer call() {
    if (!ProxyOptions.MODES.contains(mode)) {
      throw new IllegalArgumentException(
          "--mode "
              + mode
              + " is not supported (supported: "
              + String.join(", ", ProxyOptions.MODES)
              + ")");
    }
    ProcessCommandRunner runner = new ProcessCommandRunner();
    IptablesKernel iptables = new IptablesKernel(runner);
    IpvsKernel ipvs = new IpvsKernel(runner);
    // IPVS first: its chains share names with iptables mode's and refer to its ipsets.
    if (mode.equals("ipvs")) {
      IpvsProxier.cleanupAll(ipvs, iptables);
    } else {
      IpvsProxier.removeLeftoversForOtherMode(ipvs, iptables);
    }
    new IptablesProxier(
            iptables,
            ProxyConfig.defaults("", "", LocalTrafficDetector.none()),
            IptablesOptions.defaults())
        .cleanup();
    // As upstream's --cleanup, whatever the mode: the ip and ip6 kube-proxy tables too.
    NftablesProxier.removeTables(new NftKernel(runner));
    return 0;
  }
}
