package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.render.iptables.IptablesRenderer;
import dev.svcproxy.source.ManifestSource;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/** Prints the iptables-restore input run would apply; changes nothing. */
@Command(
    name = "render",
    mixinStandardHelpOptions = true,
    description =
        "Print the iptables-restore input `run` would apply, without touching the kernel.")
final class RenderCommand implements Callable<Integer> {
  @Mixin ProxyOptions options;
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    CommandRunner runner = new ProcessCommandRunner();
    ProxyConfig cfg = options.proxyConfig(runner);
    ManifestSource.Snapshot snap = new ManifestSource(options.manifests).load();
    // ManifestSource has logged each problem (stderr) already; stdout is restore text only.
    spec.commandLine()
        .getOut()
        .print(
            new IptablesRenderer(cfg, options.iptablesOptions(), KernelCapabilities.none())
                .render(snap.state())
                .text());
    spec.commandLine().getOut().flush();
    return 0;
  }
}
