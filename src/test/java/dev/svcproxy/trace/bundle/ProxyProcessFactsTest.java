package dev.svcproxy.trace.bundle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.Spawned;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ProxyProcessFactsTest {
  /** Answers each command line from a table; anything else fails. */
  private record Scripted(Map<String, String> out) implements CommandRunner {
    @Override
    public CommandResult run(List<String> argv, String stdin, Duration timeout) {
      String o = out.get(String.join(" ", argv));
      return o == null ? new CommandResult(argv, 1, "", "no") : new CommandResult(argv, 0, o, "");
    }

    @Override
    public Spawned spawn(List<String> argv, Path log) {
      throw new UnsupportedOperationException();
    }
  }

  private static final String PS =
      "    1 4026531833 /sbin/init\n"
          + "  200 4026532999 /usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf\n"
          + "  300 4026533000 /usr/bin/java -cp /x/classes dev.svcproxy.cli.Main run --mode nftables\n"
          + "  301 4026533000 /usr/bin/java -cp /x/classes dev.svcproxy.cli.Main trace --live\n"
          + "  302 4026533000 socat TCP-LISTEN:8080 SYSTEM:echo\n";

  @Test
  void find_onlyProxiesInTheRunnersNamespace_argvFromCmdline() {
    Map<String, String> out = new HashMap<>();
    out.put("readlink /proc/self/ns/net", "net:[4026533000]\n");
    out.put("ps -e -ww -o pid=,netns=,args=", PS);
    out.put(
        "cat /proc/300/cmdline",
        "/usr/bin/java\0-cp\0/x/classes\0dev.svcproxy.cli.Main\0run\0--mode\0nftables\0"
            + "--node-name\0node 7\0");
    Optional<List<ProxyProcessFacts.Process>> found = ProxyProcessFacts.find(new Scripted(out));
    assertThat(found).isPresent();
    // kube-proxy (pid 200) is in another namespace; pid 301 is not `run`; 302 is no proxy.
    assertThat(found.get())
        .singleElement()
        .satisfies(
            p -> {
              assertThat(p.pid()).isEqualTo(300);
              assertThat(p.flags()).containsExactly("--mode", "nftables", "--node-name", "node 7");
            });
  }

  @Test
  void find_noPs_unknownNotAbsent() {
    Scripted r = new Scripted(Map.of("readlink /proc/self/ns/net", "net:[1]\n"));
    assertThat(ProxyProcessFacts.find(r)).isEmpty();
    assertThat(ProxyProcessFacts.capture(r)).isEmpty();
  }

  @Test
  void capture_noProxy_anEmptyFile() {
    Map<String, String> out = new HashMap<>();
    out.put("readlink /proc/self/ns/net", "net:[4026531833]\n");
    out.put("ps -e -ww -o pid=,netns=,args=", PS);
    assertThat(ProxyProcessFacts.capture(new Scripted(out))).contains("");
  }

  @Test
  void line_argumentWithALineBreak_staysOneLine() {
    ProxyProcessFacts.Process p =
        new ProxyProcessFacts.Process(
            7, List.of("/usr/local/bin/kube-proxy", "--x=a\n1 /usr/local/bin/kube-proxy"));
    assertThat(p.line()).isEqualTo("7 /usr/local/bin/kube-proxy --x=a?1 /usr/local/bin/kube-proxy");
    assertThat(ProxyProcessFacts.parse(p.line() + "\n")).singleElement();
  }

  @Test
  void isProxy_namesKubeProxyAndSvcproxyRunOnly() {
    assertThat(ProxyProcessFacts.isProxy(List.of("/usr/local/bin/kube-proxy"))).isTrue();
    assertThat(ProxyProcessFacts.isProxy(List.of("/usr/bin/svcproxy", "run"))).isTrue();
    assertThat(ProxyProcessFacts.isProxy(List.of("/usr/bin/svcproxy", "doctor"))).isFalse();
    assertThat(ProxyProcessFacts.isProxy(List.of("kube-proxy-helper"))).isFalse();
  }
}
