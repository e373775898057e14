package dev.svcproxy.cli;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Writes a node bundle. */
@Command(
    name = "capture",
    mixinStandardHelpOptions = true,
    description =
        "Capture the node's routing, addresses, sysctls, iptables (with rule counters), ipsets,"
            + " conntrack, IPVS (when ip_vs is loaded) and the proxy processes' command lines into a"
            + " bundle directory.")
final class CaptureCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--out",
      required = true,
      paramLabel = "DIR",
      description = "The bundle directory to write.")
  Path out;

  @Option(
      names = "--netns",
      paramLabel = "NAME",
      description = "Capture this network namespace instead.")
  String netns;

  @Override
  public Integer call() {
    CommandRunner runner = new ProcessCommandRunner();
    if (netns != null) {
      BundleCapture.requireNetns(runner, netns);
      runner = runner.inNetns(netns);
    }
    BundleCapture.Written w = BundleCapture.captureInto(runner, out);
    List<String> files = w.written();
    spec.commandLine()
        .getOut()
        .println("wrote " + files.size() + " files to " + out + ": " + String.join(", ", files));
    if (!w.removed().isEmpty()) {
      spec.commandLine()
          .getErr()
          .println(
              "svcproxy: removed bundle files of an earlier capture that this one did not write: "
                  + String.join(", ", w.removed()));
    }
    if (!w.untouched().isEmpty()) {
      spec.commandLine()
          .getErr()
          .println(
              "svcproxy: warning: "
                  + out
                  + " also holds files that are not part of a bundle (left alone): "
                  + String.join(", ", w.untouched()));
    }
    return 0;
  }
}
