package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.RecordingCommandRunner;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.testutil.Seed000Bundle;
import dev.svcproxy.trace.bundle.ProxyProcessFacts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The general guard on evidence: on a bundle every finding's evidence cites a {@code file:line}
 * whose line, re-read from disk, holds its text (or a command, or a one-line JSON file), and on the
 * live node the same facts cite the command that shows them. Run on the seed bundles and on a
 * bundle whose pod network is known only from the proxy's flags (proxy-process.txt).
 */
class EvidenceCitationTest {
  @TempDir Path tmp;

  private static final String NETNS = "4026531840";

  /** Seed 000's node with the proxy process a capture records: kube-proxy 1.9, no cluster CIDR. */
  private static Map<String, String> seed000() {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", Seed000Bundle.ADDR);
    f.put("ip-route.txt", Seed000Bundle.ROUTES);
    f.put("sysctl.txt", "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n");
    f.put("iptables-save.txt", Seed000Bundle.FAILING);
    f.put("ipset-save.txt", Seed000Bundle.IPSETS);
    f.put("ipvsadm-save.txt", Seed000Bundle.SERVICES);
    f.put(
        ProxyProcessFacts.FILE,
        "4242 /usr/local/bin/kube-proxy --proxy-mode=ipvs --hostname-override=10.19.136.10\n");
    return f;
  }

  private static Map<String, String> seed001() {
    Map<String, String> f = new HashMap<>();
    f.put("ip-addr.json", IpvsCheckTest.ADDR_001);
    f.put("ip-route.txt", IpvsCheckTest.ROUTES_001);
    f.put("ipvsadm-save.txt", IpvsCheckTest.IPVS_001);
    return f;
  }

  /**
   * The book's podman bridge (cni-config-wrong-subnet): the pod network 10.187.0.0/16 is known only
   * from kube-proxy's --cluster-cidr, on the second line of proxy-process.txt (the first is blank,
   * as a hand-edited file may have it).
   */
  private static Map<String, String> podman() {
    Map<String, String> f = new HashMap<>();
    f.put(
        "ip-addr.json",
        "[{\"ifname\":\"lo\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"127.0.0.1\",\"prefixlen\":8}]},"
            + "{\"ifname\":\"eth0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.20.1.7\",\"prefixlen\":24}]},"
            + "{\"ifname\":\"cni0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.187.4.1\",\"prefixlen\":24}]},"
            + "{\"ifname\":\"veth1\",\"master\":\"cni0\",\"addr_info\":[]},"
            + "{\"ifname\":\"cni-podman0\",\"addr_info\":[{\"family\":\"inet\",\"local\":\"10.88.0.1\",\"prefixlen\":16}]},"
            + "{\"ifname\":\"veth9\",\"master\":\"cni-podman0\",\"addr_info\":[]}]");
    f.put(
        "ip-route.txt",
        "default via 10.20.1.1 dev eth0\n"
            + "10.20.1.0/24 dev eth0 proto kernel scope link src 10.20.1.7\n"
            + "10.187.4.0/24 dev cni0 proto kernel scope link src 10.187.4.1\n"
            + "10.88.0.0/16 dev cni-podman0 proto kernel scope link src 10.88.0.1\n");
    f.put(
        ProxyProcessFacts.FILE,
        "\n4243 /usr/local/bin/kube-proxy --cluster-cidr 10.187.0.0/16 --proxy-mode=iptables\n");
    return f;
  }

  private DoctorReport onBundle(String name, Map<String, String> files, List<Finding> out)
      throws Exception {
    return onBundle(name, files, Optional.empty(), out);
  }

  private DoctorReport onBundle(
      String name, Map<String, String> files, Optional<Path> objects, List<Finding> out)
      throws Exception {
    Path dir = tmp.resolve(name);
    Files.createDirectories(dir);
    for (Map.Entry<String, String> e : files.entrySet()) {
      Files.writeString(dir.resolve(e.getKey()), e.getValue());
    }
    DoctorInput in = DoctorInputs.bundle(dir, objects);
    DoctorReport r = Doctor.standard().examine(in);
    assertThat(r.findings()).as(DoctorFormatter.text(r)).isNotEmpty();
    for (Finding f : r.findings()) {
      LiveAndBundle.Named n = new LiveAndBundle.Named(f, f, dir, in);
      for (Evidence e : f.evidence()) {
        LiveAndBundle.assertCited(n, e, f.id());
      }
      out.add(f);
    }
    return r;
  }

  /**
   * The same node live, behind a runner that answers the capture's commands from {@code files} (the
   * proxy process found by ps in this namespace): every evidence names a command.
   */
  private static DoctorReport live(Map<String, String> files) {
    return live(files, Optional.empty());
  }

  private static DoctorReport live(Map<String, String> files, Optional<Path> objects) {
    RecordingCommandRunner runner =
        new RecordingCommandRunner(
            c -> {
              String out =
                  switch (c.line()) {
                    case "iptables-nft-save -c" -> files.get("iptables-save.txt");
                    case "ipset save" -> files.get("ipset-save.txt");
                    case "test -e /proc/net/ip_vs" ->
                        files.containsKey("ipvsadm-save.txt") ? "" : null;
                    case "ipvsadm -S -n" -> files.get("ipvsadm-save.txt");
                    case "ip -j addr" -> files.get("ip-addr.json");
                    case "sysctl -a" -> files.get("sysctl.txt");
                    case "readlink /proc/self/ns/net" -> "net:[" + NETNS + "]\n";
                    case "ps -e -ww -o pid=,netns=,args=" -> ps(files);
                    default -> cmdline(files, c.line());
                  };
              return out == null
                  ? new CommandResult(c.argv(), 1, "", "not here")
                  : new CommandResult(c.argv(), 0, out, "");
            });
    return Doctor.standard().examine(DoctorInputs.live(runner, objects));
  }

  private static String ps(Map<String, String> files) {
    StringBuilder b = new StringBuilder();
    for (ProxyProcessFacts.Process p :
        ProxyProcessFacts.parse(files.getOrDefault(ProxyProcessFacts.FILE, ""))) {
      b.append(p.pid()).append(' ').append(NETNS).append(' ');
      b.append(String.join(" ", p.argv())).append('\n');
    }
    return b.toString();
  }

  private static String cmdline(Map<String, String> files, String line) {
    for (ProxyProcessFacts.Process p :
        ProxyProcessFacts.parse(files.getOrDefault(ProxyProcessFacts.FILE, ""))) {
      if (line.equals("cat /proc/" + p.pid() + "/cmdline")) {
        return String.join("\0", p.argv()) + "\0";
      }
    }
    return null;
  }

  private static void assertAllCommands(DoctorReport r) {
    assertThat(r.findings()).as(DoctorFormatter.text(r)).isNotEmpty();
    assertThat(r.findings())
        .allSatisfy(
            f ->
                assertThat(f.evidence())
                    .allSatisfy(
                        e -> assertThat(e.where()).as("%s: %s", f.id(), e).startsWith("$ ")));
  }

  private static Finding only(List<Finding> fs, String id) {
    List<Finding> with = fs.stream().filter(f -> f.id().equals(id)).toList();
    assertThat(with).as(id).singleElement();
    return with.get(0);
  }

  @Test
  void seed000_everyEvidenceCited_flagsOnTheProxyLine_liveByCommand() throws Exception {
    List<Finding> fs = new java.util.ArrayList<>();
    onBundle("seed000", seed000(), fs);
    // kube-proxy's command line lacks the flag: the line, whole, behind what it lacks.
    assertThat(only(fs, "missing-cluster-cidr").evidence())
        .contains(
            new Evidence(
                "proxy-process.txt:1",
                "no --cluster-cidr: 4242 /usr/local/bin/kube-proxy --proxy-mode=ipvs"
                    + " --hostname-override=10.19.136.10"));

    DoctorReport live = live(seed000());
    assertAllCommands(live);
    assertThat(only(live.findings(), "missing-cluster-cidr").evidence())
        .contains(
            Evidence.command(
                "cat /proc/4242/cmdline",
                "no --cluster-cidr: 4242 /usr/local/bin/kube-proxy --proxy-mode=ipvs"
                    + " --hostname-override=10.19.136.10"));
  }

  @Test
  void seed001_everyEvidenceCited() throws Exception {
    // The author's SVC1, whose LoadBalancer IP is CLB1's (IpvsCheckTest's seed 001).
    Path svc = tmp.resolve("svc1.yaml");
    Files.writeString(
        svc,
        "apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: svc1}\nspec:\n"
            + "  type: LoadBalancer\n  clusterIP: 172.21.0.10\n"
            + "  ports: [{port: 80, protocol: TCP, nodePort: 30080}]\n"
            + "status:\n  loadBalancer:\n    ingress: [{ip: 192.168.1.200}]\n");
    List<Finding> fs = new java.util.ArrayList<>();
    onBundle("seed001", seed001(), Optional.of(svc), fs);
    assertThat(fs).extracting(Finding::id).contains("lb-ip-bound-locally");
    assertAllCommands(live(seed001(), Optional.of(svc)));
  }

  @Test
  void podNetworkFromTheClusterCidrFlag_citedOnItsLineOfProxyProcess() throws Exception {
    List<Finding> fs = new java.util.ArrayList<>();
    onBundle("podman", podman(), fs);
    assertThat(only(fs, "cni-config-wrong-subnet").evidence())
        .contains(new Evidence("proxy-process.txt:2", "--cluster-cidr 10.187.0.0/16"));

    DoctorReport live = live(podman());
    assertAllCommands(live);
    assertThat(only(live.findings(), "cni-config-wrong-subnet").evidence())
        .contains(Evidence.command("cat /proc/4243/cmdline", "--cluster-cidr 10.187.0.0/16"));
  }
}
