package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.render.iptables.IptablesRenderer;
import java.util.List;
import picocli.CommandLine;

/** Lets tests build a renderer configuration from command-line flags, as render does. */
public final class ProxyOptionsAccess {
  private ProxyOptionsAccess() {}

  public static ProxyConfig config(List<String> flags, CommandRunner runner) {
    return options(flags).proxyConfig(runner);
  }

  /** The renderer render builds from {@code flags}, with the capabilities stated. */
  public static IptablesRenderer renderer(
      List<String> flags, CommandRunner runner, KernelCapabilities caps) {
    ProxyOptions o = options(flags);
    return new IptablesRenderer(o.proxyConfig(runner), o.iptablesOptions(), caps);
  }

  private static ProxyOptions options(List<String> flags) {
    return CommandLine.populateCommand(new ProxyOptions(), flags.toArray(String[]::new));
  }
}
