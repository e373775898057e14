package dev.svcproxy.cli;

import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.ipvs.IpvsKernel;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.sync.ipvs.IpvsProxier;
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
      "its chains and ipsets) when there is a sign of it, or always with --mode ipvs."
    })
final class CleanupCommand implements Callable<Integer> {
  @Option(
      names = "--mode",
      defaultValue = "iptables",
      paramLabel = "MODE",
      description = "iptables or ipvs: ipvs flushes the IPVS table even with no kube-ipvs0.")
  String mode;

  @Override
  public Integer call() {
    if (!mode.equals("iptables") && !mode.equals("ipvs")) {
      throw new IllegalArgumentException(
          "--mode " + mode + " is not supported (supported: iptables, ipvs)");
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
    return 0;
  }
}
