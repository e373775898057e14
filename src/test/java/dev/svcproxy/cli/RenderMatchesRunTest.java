package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.IptablesKernel;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.source.ManifestSource;
import dev.svcproxy.sync.iptables.IptablesProxier;
import dev.svcproxy.testutil.FakeNode;
import dev.svcproxy.testutil.States;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * `render` prints what `run` restores: both read the same node through a fake that answers like a
 * node whose tables hold none of our chains.
 */
class RenderMatchesRunTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /** A node with iptables 1.8.9, be_liberal off, and nfacct working unless {@code nfacct} says. */
  private static final class Node {
    final Set<String> counters = new HashSet<>();
    final String nfacctError;
    final RecordingCommandRunner runner;

    Node(String nfacctError) {
      this.nfacctError = nfacctError;
      this.runner = new RecordingCommandRunner(this::answer);
    }

    private CommandResult answer(RecordingCommandRunner.Call c) {
      List<String> a = c.argv();
      String line = c.line();
      if (line.startsWith("ip -j -4 addr")) {
        return ok(a, FakeNode.IP_ADDR_JSON);
      }
      if (line.equals("iptables --version")) {
        return ok(a, "iptables v1.8.9 (nf_tables)\n");
      }
      if (line.equals("sysctl -n net.netfilter.nf_conntrack_tcp_be_liberal")) {
        return ok(a, "0\n");
      }
      if (a.get(0).equals("nfacct")) {
        if (nfacctError != null) {
          return nfacctError.startsWith("cannot run")
              ? new CommandResult(a, 127, "", nfacctError)
              : new CommandResult(a, 1, "", "nfacct v1.0.2: error: " + nfacctError + "\n");
        }
        return switch (a.get(1)) {
          case "get" ->
              counters.contains(a.get(2))
                  ? ok(a, "")
                  : new CommandResult(a, 1, "", "nfacct v1.0.2: error: No such file\n");
          case "add" -> {
            counters.add(a.get(2));
            yield ok(a, "");
          }
          default -> ok(a, "");
        };
      }
      if (a.get(0).equals("iptables") && a.contains("-C")) {
        return new CommandResult(a, 1, "", "iptables: Bad rule.\n");
      }
      return ok(a, "");
    }

    private static CommandResult ok(List<String> argv, String stdout) {
      return new CommandResult(argv, 0, stdout, "");
    }

    List<String> restores() {
      return runner.calls().stream()
          .filter(c -> c.argv().get(0).equals("iptables-restore"))
          .map(RecordingCommandRunner.Call::stdin)
          .toList();
    }
  }

  private static List<String> flags(String... extra) {
    List<String> f =
        new ArrayList<>(
            List.of(
                "--manifests",
                SvcproxyProcess.resource("/golden/overall/input.yaml").toString(),
                "--node-name",
                "test-node",
                "--cluster-cidr",
                "10.0.0.0/8"));
    f.addAll(List.of(extra));
    return f;
  }

  private int render(RecordingCommandRunner runner, List<String> flags) {
    CommandLine.IFactory factory =
        new CommandLine.IFactory() {
          @Override
          public <K> K create(Class<K> cls) throws Exception {
            return cls == RenderCommand.class
                ? cls.cast(new RenderCommand(runner))
                : CommandLine.defaultFactory().create(cls);
          }
        };
    List<String> args = new ArrayList<>(List.of("render"));
    args.addAll(flags);
    return Main.execute(
        Main.commandLine(factory),
        args.toArray(String[]::new),
        new PrintWriter(out, true),
        new PrintWriter(err, true));
  }

  /** What run's first full sync restores: RunCommand's own steps, on the fake node. */
  private static String runRestore(Node node, List<String> flags) {
    ProxyOptions o = CommandLine.populateCommand(new ProxyOptions(), flags.toArray(String[]::new));
    IptablesProxier proxier =
        new IptablesProxier(
            new IptablesKernel(node.runner), o.proxyConfig(node.runner), o.iptablesOptions());
    proxier.probe();
    proxier.sync(new ManifestSource(o.manifests).load().state(), true, Set.of());
    assertThat(node.restores()).hasSize(1);
    return node.restores().get(0);
  }

  @Test
  void render_nodeWhereNfacctWorks_printsExactlyWhatRunRestores() {
    Node node = new Node(null);
    String applied = runRestore(node, flags());
    // The counters run created are not what render sees: render must predict them.
    Node fresh = new Node(null);
    assertThat(render(fresh.runner, flags())).isEqualTo(0);
    assertThat(out.toString()).isEqualTo(applied);
    assertThat(err.toString()).isEmpty();
    // run applied the probed capabilities (upstream's nfacct matches, --random-fully).
    assertThat(applied)
        .contains("-m nfacct --nfacct-name localhost_nps_accepted_pkts")
        .contains("-j MASQUERADE --random-fully");
    assertThat(fresh.runner.calls())
        .as("render changes nothing")
        .noneMatch(c -> c.line().startsWith("nfacct add") || c.line().startsWith("sysctl -w"));
  }

  @Test
  void render_noNfacctTool_printsWhatRunRestoresWithoutCountersAndSaysNothing() {
    // run's `nfacct add` fails too, so run writes no nfacct match: nothing is in doubt.
    String missing = "cannot run nfacct: error=2, No such file or directory";
    String applied = runRestore(new Node(missing), flags());
    assertThat(render(new Node(missing).runner, flags())).isEqualTo(0);
    assertThat(out.toString()).isEqualTo(applied).doesNotContain("nfacct");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void render_nfacctNotPermitted_namesEachCounterAndTheLinesThatWouldDiffer() {
    Node node = new Node("Operation not permitted");
    assertThat(render(node.runner, flags())).isEqualTo(0);
    assertThat(out.toString()).doesNotContain("nfacct");
    String e = err.toString();
    assertThat(e)
        .contains("nfacct-localhost-nodeports (nfacct list: nfacct v1.0.2: error: Operation not")
        .contains("nfacct-invalid-dropped");
    // Upstream's expected rules for its test node, which has both counters, are the oracle for
    // the lines that would be written instead.
    List<String> upstreamNfacct =
        States.resource("/golden/overall/expected.txt")
            .lines()
            .filter(l -> l.contains("nfacct"))
            .toList();
    assertThat(upstreamNfacct).hasSize(4);
    for (String l : upstreamNfacct) {
      assertThat(e).contains("  + " + l + "\n");
    }
    assertThat(e).contains("  - -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n");
  }

  @Test
  void render_statedCapabilities_probesNothingAndUsesThem() {
    Node node = new Node(null);
    assertThat(render(node.runner, flags("--kernel-capabilities", "nfacct-invalid-dropped")))
        .as(err::toString)
        .isEqualTo(0);
    assertThat(node.runner.calls())
        .extracting(RecordingCommandRunner.Call::line)
        .allMatch(l -> l.startsWith("ip -j -4 addr"));
    assertThat(out.toString())
        .contains(
            "-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name"
                + " ct_state_invalid_dropped_pkts -j DROP\n")
        .doesNotContain("localhost_nps_accepted_pkts")
        .doesNotContain("--random-fully");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void render_unknownCapabilityName_exitsTwoNamingTheFlag() {
    assertThat(render(new Node(null).runner, flags("--kernel-capabilities", "random-fully,bogus")))
        .isEqualTo(2);
    assertThat(err.toString()).contains("--kernel-capabilities").contains("bogus");
  }
}
