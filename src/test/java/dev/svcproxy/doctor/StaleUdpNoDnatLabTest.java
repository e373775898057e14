package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.Spawned;
import dev.svcproxy.lab.DemoCluster;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.ProxyProcess;
import dev.svcproxy.testutil.DemoClusterExtension;
import dev.svcproxy.testutil.LiveAndBundle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * stale-udp-conntrack without DNAT, made by the kernel: a resolver pod keeps querying a DNS
 * ClusterIP from one source port while node1 has no rule for it yet (the proxy is down when the
 * Service appears), so conntrack records the flow un-NATed, towards the VIP itself. The proxy then
 * starts without the conntrack binary on its PATH (as kube-proxy images without conntrack-tools
 * did): it programs the Service with its endpoint but cannot delete the entry, and the resolver's
 * queries keep following it to nowhere while a new source port is answered. The doctor names the
 * entry live and on a bundle; the conntrack -D its fix gives clears it and the next query is
 * answered by the endpoint.
 */
class StaleUdpNoDnatLabTest {
  @RegisterExtension static final DemoClusterExtension demo = DemoClusterExtension.iptables();
  private final DemoCluster cluster = demo.cluster();
  private final Lab lab = demo.lab();
  @TempDir Path tmp;

  private static final String VIP = "10.96.0.20";
  private static final int PINNED_PORT = 5555;

  @Test
  void staleUdpConntrack_entryWithoutDnat_keptByProxyWithoutConntrack_namedAndClearedByFix()
      throws Exception {
    Lab.Node n1 = lab.node("node1");
    CommandRunner node = demo.node("node1");
    Lab.Pod webA = lab.pod("web-a");
    Lab.Pod client = lab.pod("client");
    lab.spawn(
        webA.netns(),
        List.of("socat", "UDP4-RECVFROM:5353,fork", "SYSTEM:echo web-a"),
        lab.workDir().resolve("web-a-dns.log"));

    cluster.proxy(1).stop();
    cluster.writeManifest("dns.yaml", dnsService(webA));
    // A resolver that keeps its source port: one query a second from 5555, answers to its log.
    Path heard = lab.workDir().resolve("resolver.log");
    Files.writeString(heard, "");
    Spawned resolver =
        lab.spawn(
            client.netns(),
            List.of(
                "sh",
                "-c",
                "while :; do echo q | socat -T1 - UDP4:"
                    + VIP
                    + ":53,sourceport="
                    + PINNED_PORT
                    + ",reuseaddr; sleep 0.3; done"),
            heard);
    Spawned broken = null;
    try {
      // The kernel tracks the first query with no DNAT: its reply is expected from the VIP.
      String entry = awaitEntry(node, client.ip());
      assertThat(entry)
          .contains("src=" + VIP + " dst=" + client.ip() + " sport=53 dport=" + PINNED_PORT)
          .contains("[UNREPLIED]");

      broken = startWithoutConntrack(n1);
      String log = Files.readString(lab.workDir().resolve("svcproxy-node1-noconntrack.log"));
      assertThat(log).contains("Failed to list conntrack entries");
      // The Service works for a new flow, and the pinned one still goes nowhere.
      assertThat(query(client, 5556)).contains("web-a");
      Thread.sleep(2000);
      assertThat(Files.readString(heard)).doesNotContain("web-a");
      assertThat(awaitEntry(node, client.ip()))
          .contains("src=" + VIP + " dst=" + client.ip() + " sport=53 dport=" + PINNED_PORT);

      LiveAndBundle doctor =
          LiveAndBundle.on(node, demo.objects())
              .which(f -> f.summary().contains(":" + PINNED_PORT + " → "));
      LiveAndBundle.Named named = doctor.named("stale-udp-conntrack", tmp.resolve("bundle"));
      String flow = client.ip() + ":" + PINNED_PORT + " → " + VIP + ":53";
      for (Finding f : named.both()) {
        assertThat(f.summary())
            .isEqualTo(
                "UDP flow "
                    + flow
                    + " is tracked without DNAT (endpoints now: "
                    + webA.ip()
                    + ":5353)");
        assertThat(f.evidence().get(0).text())
            .contains("src=" + client.ip() + " dst=" + VIP + " sport=5555 dport=53")
            .contains("src=" + VIP + " dst=" + client.ip() + " sport=53 dport=5555");
      }
      assertThat(named.bundle().evidence().get(0).where()).startsWith("conntrack.txt:");

      // The fix, run as the finding gives it.
      String fix = named.live().fix();
      String cmd = fix.substring(fix.indexOf("conntrack -D"), fix.indexOf(" (or"));
      assertThat(cmd)
          .isEqualTo(
              "conntrack -D -p udp -s "
                  + client.ip()
                  + " -d "
                  + VIP
                  + " --sport "
                  + PINNED_PORT
                  + " --dport 53");
      // Gone live and on a bundle captured after it; the resolver's next query is answered.
      doctor.clearedBy(
          named,
          () -> {
            CommandResult r = node.run(Arrays.asList(cmd.split(" ")));
            assertThat(r.ok()).as(r.stderr()).isTrue();
            long end = System.nanoTime() + Duration.ofSeconds(8).toNanos();
            while (!Files.readString(heard).contains("web-a") && System.nanoTime() < end) {
              Thread.sleep(100);
            }
          },
          cmd);
      assertThat(Files.readString(heard))
          .as("the resolver's next query is answered")
          .contains("web-a");
    } finally {
      resolver.close();
      if (broken != null) {
        broken.close();
      }
      node.run("conntrack", "-D", "-p", "udp", "-d", VIP);
    }
  }

  /** The resolver's conntrack entry on node1, once the kernel has made it. */
  private static String awaitEntry(CommandRunner node, String client) throws Exception {
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < end) {
      String l = node.run("conntrack", "-L", "-p", "udp", "-d", VIP).stdout();
      Optional<String> line =
          l.lines()
              .filter(x -> x.contains("src=" + client + " dst=" + VIP + " sport=" + PINNED_PORT))
              .findFirst();
      if (line.isPresent()) {
        return line.get();
      }
      Thread.sleep(100);
    }
    throw new AssertionError("no conntrack entry for the resolver");
  }

  /**
   * svcproxy run on node1 with a PATH where every program of /usr/sbin is, but conntrack; waits for
   * its first sync.
   */
  private Spawned startWithoutConntrack(Lab.Node n1) throws Exception {
    Path bin = lab.workDir().resolve("sbin-without-conntrack");
    Files.createDirectories(bin);
    try (Stream<Path> s = Files.list(Path.of("/usr/sbin"))) {
      for (Path p : s.toList()) {
        if (!p.getFileName().toString().equals("conntrack")) {
          Files.createSymbolicLink(bin.resolve(p.getFileName()), p);
        }
      }
    }
    Path log = lab.workDir().resolve("svcproxy-node1-noconntrack.log");
    List<String> argv = new ArrayList<>(List.of("env", "PATH=" + bin + ":/usr/bin"));
    argv.addAll(ProxyProcess.javaCommand());
    argv.addAll(
        List.of("run", "--mode", "iptables", "--manifests", cluster.manifests().toString()));
    argv.addAll(ProxyProcess.nodeFlags(n1, lab.workDir()));
    Spawned p = lab.spawn(n1.netns(), argv, log);
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < end) {
      if (read(log).contains("Failed to list conntrack entries")) {
        return p;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("no sync and conntrack failure in 60 s:\n" + read(log));
  }

  private static String read(Path p) throws IOException {
    return Files.exists(p) ? Files.readString(p) : "";
  }

  private String query(Lab.Pod from, int sport) {
    return lab.runner()
        .inNetns(from.netns())
        .run(
            List.of("socat", "-T2", "-", "UDP4:" + VIP + ":53,sourceport=" + sport + ",reuseaddr"),
            "q\n",
            Duration.ofSeconds(8))
        .stdout();
  }

  private static String dnsService(Lab.Pod endpoint) {
    return "apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: dns}\nspec:\n"
        + "  type: ClusterIP\n  clusterIP: "
        + VIP
        + "\n  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 5353}]\n---\n"
        + "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
        + "  namespace: default\n  name: dns-1\n  labels: {kubernetes.io/service-name: dns}\n"
        + "addressType: IPv4\nports: [{name: dns, port: 5353, protocol: UDP}]\nendpoints:\n"
        + "- addresses: ["
        + endpoint.ip()
        + "]\n  nodeName: "
        + endpoint.node().name()
        + "\n";
  }
}
