package dev.svcproxy.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.render.ipvs.IpvsText;
import dev.svcproxy.testutil.KernelTests;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * `render --mode ipvs` on what the node gives it: a failed `ip -j -4 addr` must fail the render (an
 * empty address list would drop every NodePort virtual server), and a source range ipset refuses (a
 * /0 net in hash:ip,port,net, "The value of the CIDR parameter of the IP address is invalid") is
 * left out with a note on stderr, so the printed `ipset restore` input applies.
 */
class RenderIpvsNodeInputTest {
  private static final String LB =
      """
      apiVersion: v1
      kind: Service
      metadata: {namespace: ns1, name: lb}
      spec:
        type: LoadBalancer
        clusterIP: 172.30.0.41
        loadBalancerSourceRanges: [0.0.0.0/0, 10.0.0.0/8]
        ports: [{name: p80, port: 80, protocol: TCP, nodePort: 30080}]
      status:
        loadBalancer: {ingress: [{ip: 1.2.3.4}]}
      """;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();
  @TempDir Path dir;

  private int render(Function<RecordingCommandRunner.Call, CommandResult> node, String... extra)
      throws Exception {
    Path manifests = dir.resolve("lb.yaml");
    Files.writeString(manifests, LB);
    RecordingCommandRunner runner = new RecordingCommandRunner(node);
    CommandLine.IFactory factory =
        new CommandLine.IFactory() {
          @Override
          public <K> K create(Class<K> cls) throws Exception {
            return cls == RenderCommand.class
                ? cls.cast(new RenderCommand(runner))
                : CommandLine.defaultFactory().create(cls);
          }
        };
    List<String> args =
        new ArrayList<>(
            List.of(
                "render",
                "--mode",
                "ipvs",
                "--manifests",
                manifests.toString(),
                "--node-name",
                "test-node",
                "--node-ip",
                "192.168.0.2",
                "--kernel-version",
                "6.1.0",
                "--kernel-capabilities",
                "random-fully"));
    args.addAll(List.of(extra));
    return Main.execute(
        Main.commandLine(factory),
        args.toArray(String[]::new),
        new PrintWriter(out, true),
        new PrintWriter(err, true));
  }

  @Test
  void render_ipAddrFails_failsInsteadOfRenderingNoNodePorts() throws Exception {
    int code =
        render(
            c ->
                new CommandResult(
                    c.argv(), c.line().startsWith("ip ") ? 1 : 0, "", "RTNETLINK: busy\n"));
    assertThat(code).isNotZero();
    assertThat(out.toString()).isEmpty();
    assertThat(err.toString()).contains("cannot list the node's addresses");
  }

  @Test
  void render_ipAddrPrintsNoJson_fails() throws Exception {
    int code = render(c -> new CommandResult(c.argv(), 0, "garbage", ""));
    assertThat(code).isNotZero();
    assertThat(out.toString()).isEmpty();
  }

  @Test
  void render_ipAddrListsNodeAddress_nodePortOnIt() throws Exception {
    String json =
        "[{\"ifname\":\"eth0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"192.168.0.2\"}]},"
            + "{\"ifname\":\"kube-ipvs0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"1.2.3.4\"}]}]";
    int code = render(c -> new CommandResult(c.argv(), 0, json, ""));
    assertThat(code).isZero();
    assertThat(IpvsText.section(out.toString(), IpvsText.IPVSADM))
        .contains("-A -t 192.168.0.2:30080 -s rr")
        .noneMatch(l -> l.contains("1.2.3.4:30080"));
  }

  @Test
  void render_slash0SourceRange_leftOutNotedAndTheRestAppliesOnTheKernel() throws Exception {
    int code =
        render(c -> new CommandResult(c.argv(), 0, "", ""), "--local-addresses", "192.168.0.2");
    assertThat(code).isZero();
    List<String> sets = IpvsText.section(out.toString(), IpvsText.IPSET);
    assertThat(sets).noneMatch(l -> l.contains("0.0.0.0/0"));
    assertThat(sets).contains("add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/8");
    assertThat(err.toString()).contains("1.2.3.4,tcp:80,0.0.0.0/0");

    KernelTests.require("ipset restore of the render in a network namespace");
    ProcessCommandRunner real = new ProcessCommandRunner();
    String netns = "svpfixr" + ProcessHandle.current().pid();
    real.run("ip", "netns", "add", netns).orThrow();
    try {
      CommandResult r =
          real.run(
              List.of("ip", "netns", "exec", netns, "ipset", "restore"),
              String.join("\n", sets) + "\n",
              Duration.ofSeconds(30));
      assertThat(r.stderr()).isEmpty();
      assertThat(r.exitCode()).isZero();
    } finally {
      real.run("ip", "netns", "del", netns);
    }
  }
}
