package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.render.iptables.IptablesConfig;
import java.util.List;
import picocli.CommandLine;

/** Lets tests build a renderer configuration from command-line flags, as render does. */
public final class ProxyOptionsAccess {
  private ProxyOptionsAccess() {}

  public static IptablesConfig config(List<String> flags, CommandRunner runner) {
    ProxyOptions o = CommandLine.populateCommand(new ProxyOptions(), flags.toArray(String[]::new));
    return o.iptablesConfig(runner);
  }
}
