package dev.svcproxy.cli;

import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.render.iptables.IptablesOptions;
import dev.svcproxy.sync.iptables.IptablesProxier;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** Removes every rule and chain svcproxy installed. */
@Command(
    name = "cleanup",
    mixinStandardHelpOptions = true,
    description = "Remove every iptables rule and chain svcproxy (or kube-proxy) installed.")
final class CleanupCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    new IptablesProxier(
            new IptablesKernel(new ProcessCommandRunner()),
            ProxyConfig.defaults("", "", LocalTrafficDetector.none()),
            IptablesOptions.defaults())
        .cleanup();
    return 0;
  }
}
