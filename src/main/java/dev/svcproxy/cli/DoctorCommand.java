package dev.svcproxy.cli;

import dev.svcproxy.doctor.Doctor;
import dev.svcproxy.doctor.DoctorFormatter;
import dev.svcproxy.doctor.DoctorHtml;
import dev.svcproxy.doctor.DoctorInput;
import dev.svcproxy.doctor.DoctorInputs;
import dev.svcproxy.doctor.DoctorReport;
import dev.svcproxy.doctor.PastedInput;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.bundle.BundleCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Names what is wrong with a node's Service data plane, with the evidence and the fix. */
@Command(
    name = "doctor",
    mixinStandardHelpOptions = true,
    description = {
      "Check a node's Service data plane (from a bundle, the live node or pasted command output) and name what is wrong,"
          + " with the evidence, why it breaks traffic and the fix. With --dst, also trace that"
          + " packet and explain its outcome.",
      "Exit 0 when nothing is found, 1 with findings, 2 on bad input."
    })
final class DoctorCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Source source;

  static final class Source {
    @Option(names = "--bundle", paramLabel = "DIR", description = "A captured node bundle.")
    Path bundle;

    @Option(names = "--live", description = "Read the live node (root).")
    boolean live;

    @Option(
        names = "--paste",
        arity = "1..*",
        paramLabel = "FILE",
        description =
            "Command output pasted from a node (`-`: standard input): iptables-save (a grepped"
                + " fragment too), iptables -L -n -v [-t nat], ipvsadm -Ln, ip route, ip addr,"
                + " sysctl, conntrack -L, kubectl get svc,ep,endpointslices -o wide / -o yaml;"
                + " each block is recognised by its `$ command` prompt line or its content.")
    List<String> paste;
  }

  @Option(
      names = "--kubeconfig",
      paramLabel = "PATH",
      description =
          "Read the cluster's Services and EndpointSlices once from this API server (instead of"
              + " --manifests).")
  Path kubeconfig;

  @Option(
      names = "--api-timeout",
      defaultValue = "30s",
      paramLabel = "DURATION",
      description = "With --kubeconfig: how long to wait for the API server's lists (default 30s).")
  String apiTimeout;

  @Option(
      names = "--netns",
      paramLabel = "NAME",
      description = "With --live: read this network namespace.")
  String netns;

  @Option(
      names = "--manifests",
      paramLabel = "PATH",
      description =
          "The cluster's Services and EndpointSlices (a file or directory of manifests, or"
              + " `kubectl get svc,endpointslices -A -o json` output); default: the bundle's"
              + " cluster.json.")
  Path manifests;

  @Mixin PacketOptions packet;

  @Mixin FormatOption format;

  @Override
  public Integer call() throws Exception {
    String output = format.format();
    if (netns != null && !source.live) {
      throw new IllegalArgumentException("--netns: only with --live");
    }
    if (kubeconfig != null && manifests != null) {
      throw new IllegalArgumentException(
          "--manifests and --kubeconfig exclude each other: read Services from files or from the"
              + " API server, not both");
    }
    Optional<PacketSpec> packet = this.packet.optional();
    Optional<Path> objects = Optional.ofNullable(manifests);
    DoctorInput in;
    if (source.live) {
      CommandRunner runner = new ProcessCommandRunner();
      if (netns != null) {
        BundleCapture.requireNetns(runner, netns);
        runner = runner.inNetns(netns);
      }
      in = DoctorInputs.live(runner, objects);
    } else if (source.paste != null) {
      in = DoctorInputs.paste(pastes(), objects);
    } else {
      in = DoctorInputs.bundle(source.bundle, objects);
    }
    if (kubeconfig != null) {
      java.time.Duration timeout = Durations.parse(apiTimeout, "--api-timeout");
      in =
          in.withCluster(
              DoctorInputs.apiSnapshot(kubeconfig, in.facts().nodeName().orElse(""), timeout));
    }
    DoctorReport r = Doctor.standard().examine(in.withPacket(packet.orElse(null)));
    spec.commandLine()
        .getOut()
        .print(
            output.equals("html")
                ? DoctorHtml.page(r, in.files())
                : output.equals("json") ? DoctorFormatter.json(r) : DoctorFormatter.text(r));
    spec.commandLine().getOut().flush();
    return r.findings().isEmpty() ? ExitCodes.OK : ExitCodes.FINDING;
  }

  /** The --paste files, read and checked; `-` is standard input (once). */
  private List<PastedInput.Source> pastes() throws java.io.IOException {
    List<PastedInput.Source> out = new java.util.ArrayList<>();
    // Every name is checked before anything is read: a bad one must not wait on standard input.
    if (source.paste.stream().filter("-"::equals).count() > 1) {
      throw new IllegalArgumentException("--paste -: standard input given twice");
    }
    for (String f : source.paste) {
      Path p = Path.of(f);
      if (!f.equals("-") && Files.isDirectory(p)) {
        throw new IllegalArgumentException(
            "--paste " + f + ": a directory (use --bundle DIR; files under any name are read)");
      }
      if (!f.equals("-") && (!Files.isRegularFile(p) || !Files.isReadable(p))) {
        throw new IllegalArgumentException("--paste " + f + ": no such readable file");
      }
    }
    for (String f : source.paste) {
      if (f.equals("-")) {
        out.add(DoctorInputs.readPaste("<stdin>", System.in));
        continue;
      }
      try (java.io.InputStream in = Files.newInputStream(Path.of(f))) {
        out.add(DoctorInputs.readPaste(f, in));
      }
    }
    return out;
  }
}
