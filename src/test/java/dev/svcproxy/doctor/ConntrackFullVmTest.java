package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.cli.Main;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Connection;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.lab.vm.KernelVm;
import dev.svcproxy.netfilter.TableRule;
import dev.svcproxy.render.iptables.JumpRules;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.testutil.LiveAndBundle;
import dev.svcproxy.testutil.vm.TimeScale;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * conntrack-table-full on a real kernel. nf_conntrack_max is one global limit (read-only inside a
 * network namespace) that each namespace's own entry count is held to, so this runs in the kernel
 * VM, a throw-away guest whose limit it may lower, and alone there (other classes' labs obey the
 * same limit). node1 runs svcproxy's rules for a Service web (10.96.0.10) whose endpoint is a pod
 * on node2; a client pod on node1 holds idle connections to the Service's port 81 until node1's
 * table is full, then a new connection to port 80 is dropped; the doctor names it live and on a
 * captured bundle; raising the limit, as the finding says, clears it.
 */
@Tag("vm")
@Isolated("lowers the global nf_conntrack_max, which every namespace's conntrack obeys")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConntrackFullVmTest {
  private static final String VIP = "10.96.0.10";
  private static final String MAX_KEY = "net.netfilter.nf_conntrack_max";
  private static final String COUNT_KEY = "net.netfilter.nf_conntrack_count";

  /**
   * Below 100 the kernel's garbage collector never evicts under pressure (its 95% mark, max / 100 *
   * 95, is 0); the idle connections are ESTABLISHED and assured, which nothing evicts at any size,
   * so the table stays full however long the doctor takes under emulation.
   */
  private static final int MAX = 64;

  private static final String TABLE_FULL = "nf_conntrack: table full, dropping packet";

  /** The guest's own namespace, where the global limit is written. */
  private final CommandRunner guest = new ProcessCommandRunner();

  private Lab lab;
  private Lab.Node node1;
  private Lab.Pod client;
  private CommandRunner node;
  private String originalMax;
  @TempDir Path tmp;

  @BeforeAll
  void buildLab() throws Exception {
    if (System.getenv(KernelVm.GUEST_ENV) == null) {
      // Never on the host: the limit is the whole machine's.
      Assertions.fail(
          "ConntrackFullVmTest lowers the global nf_conntrack_max: run it in the kernel VM"
              + " (scripts/vm/test ConntrackFullVmTest)");
    }
    KernelTests.require("conntrack-table-full reproduction");
    lab = Lab.create(guest, 2);
    node1 = lab.node("node1");
    node = lab.runner().inNetns(node1.netns());
    client = lab.addPod("node1", "client");
    Lab.Pod web = lab.addPod("node2", "web");
    lab.startBackend(web, 8080);
    // Port 8081 keeps each connection open and idle (cat waits for the client, which never sends).
    lab.spawn(
        web.netns(),
        List.of("socat", "TCP-LISTEN:8081,fork,reuseaddr,backlog=256", "EXEC:cat"),
        lab.workDir().resolve("web-8081.log"));
    Path manifests = lab.workDir().resolve("manifests.yaml");
    Files.writeString(manifests, manifests(web));
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        Main.execute(
            new String[] {
              "render",
              "--manifests",
              manifests.toString(),
              "--node-name",
              "node1",
              "--node-ip",
              node1.ip(),
              "--cluster-cidr",
              Lab.CLUSTER_CIDR,
              "--kernel-capabilities",
              "none"
            },
            new PrintWriter(out, true),
            new PrintWriter(err, true));
    assertThat(code).as("render: %s", err).isZero();
    node.run(
            List.of("iptables-restore", "--noflush"),
            out.toString(),
            TimeScale.scale(Duration.ofSeconds(20)))
        .orThrow();
    // The jumps from the built-in chains, which run ensures one by one beside the restore.
    for (TableRule j : JumpRules.KUBE_PROXY) {
      List<String> argv = new ArrayList<>(List.of("iptables"));
      argv.addAll(j.argv("-I"));
      node.run(argv).orThrow();
    }
    originalMax = sysctlValue(guest, MAX_KEY);
  }

  @AfterAll
  void tearDown() {
    try {
      if (originalMax != null) {
        guest.run("sysctl", "-q", "-w", MAX_KEY + "=" + originalMax);
      }
    } finally {
      if (lab != null) {
        lab.close();
      }
    }
  }

  @Test
  void idleConnectionsFillTable_newSynDropped_namedLiveAndOnBundle_clearedByRaisingMax()
      throws Exception {
    // The Service works and the doctor has nothing to say about conntrack.
    assertThat(connect().backend()).isEqualTo("web");
    assertThat(ids(live())).doesNotContain("conntrack-table-full");
    assertThat(Long.parseLong(originalMax)).isGreaterThan(4L * MAX);

    node.run("conntrack", "-F");
    guest.run("sysctl", "-q", "-w", MAX_KEY + "=" + MAX).orThrow();
    // MAX idle connections from the client pod through node1's DNAT: node1 tracks each one.
    lab.spawn(
        client.netns(),
        List.of(
            "bash",
            "-c",
            "for i in $(seq "
                + MAX
                + "); do exec {fd}<>/dev/tcp/"
                + VIP
                + "/81 || exit 1; done; exec sleep 3600"),
        lab.workDir().resolve("idle-clients.log"));
    awaitCount(MAX);
    assertThat(
            node.run("conntrack", "-L")
                .stdout()
                .lines()
                .filter(l -> l.contains(" ESTABLISHED ") && l.contains("dport=81 "))
                .count())
        .as("idle Service connections tracked on node1")
        .isEqualTo(MAX);

    // A new connection to the Service: its SYN finds no room and the kernel drops it.
    long dropsBefore = drops(node);
    long logBefore = tableFullLines();
    Connection refused = lab.connect(client.netns(), VIP, 80, Duration.ofSeconds(4));
    assertThat(refused.outcome()).as("%s", refused).isEqualTo(Connection.Outcome.TIMED_OUT);
    assertThat(drops(node)).as("drop in conntrack -S on node1").isGreaterThan(dropsBefore);
    assertThat(tableFullLines()).as("'%s' in dmesg", TABLE_FULL).isGreaterThan(logBefore);
    assertThat(sysctlValue(node, COUNT_KEY)).isEqualTo(String.valueOf(MAX));

    // Named live and on a bundle captured now.
    LiveAndBundle lb = LiveAndBundle.on(node, Optional.empty());
    LiveAndBundle.Named named = lb.named("conntrack-table-full", tmp.resolve("full"));

    // Live: the sysctls and the drop counter, each with the command that shows it.
    Finding live = named.live();
    assertThat(live.severity()).isEqualTo(Severity.ERROR);
    assertThat(live.summary())
        .startsWith("conntrack holds " + MAX + " of at most " + MAX + " entries: the table is full")
        .contains("the kernel dropped");
    assertThat(live.evidence())
        .contains(
            Evidence.command("sysctl " + COUNT_KEY, COUNT_KEY + " = " + MAX),
            Evidence.command("sysctl " + MAX_KEY, MAX_KEY + " = " + MAX))
        .anySatisfy(
            e -> {
              assertThat(e.where()).startsWith("$ conntrack -S");
              assertThat(e.text()).containsPattern("(^|\\s)drop=[1-9]");
            });

    // On a captured bundle: file:line, each line read back from the files on disk.
    Path dir = named.dir();
    Finding bundle = named.bundle();
    assertThat(bundle.severity()).isEqualTo(Severity.ERROR);
    assertThat(bundle.summary()).startsWith("conntrack holds " + MAX + " of at most " + MAX);
    assertCited(dir, bundle, "sysctl.txt", COUNT_KEY + " = " + MAX);
    assertCited(dir, bundle, "sysctl.txt", MAX_KEY + " = " + MAX);
    Evidence stats =
        bundle.evidence().stream()
            .filter(e -> e.where().startsWith("conntrack-stats.txt:"))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no conntrack -S line in " + bundle));
    assertThat(stats.text()).containsPattern("(^|\\s)drop=[1-9]");
    assertCited(dir, bundle, "conntrack-stats.txt", stats.text());

    // The fix the finding gives: a larger limit (the guest's own default again).
    lb.clearedBy(
        named,
        () -> guest.run("sysctl", "-q", "-w", MAX_KEY + "=" + originalMax).orThrow(),
        "sysctl -w " + MAX_KEY + "=");
    Connection c = connect();
    assertThat(c.outcome()).as("%s", c).isEqualTo(Connection.Outcome.REPLIED);
    assertThat(c.backend()).isEqualTo("web");
    // The idle connections are still there: the limit, not the load, was the problem.
    assertThat(Long.parseLong(sysctlValue(node, COUNT_KEY))).isGreaterThanOrEqualTo(MAX);
  }

  // --- helpers -----------------------------------------------------------------------------------

  private static String manifests(Lab.Pod web) {
    return "apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: web}\nspec:\n"
        + "  type: ClusterIP\n  clusterIP: "
        + VIP
        + "\n  ports:\n  - {name: http, port: 80, protocol: TCP, targetPort: 8080}\n"
        + "  - {name: idle, port: 81, protocol: TCP, targetPort: 8081}\n"
        + "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
        + "  namespace: default\n  name: web-1\n  labels: {kubernetes.io/service-name: web}\n"
        + "addressType: IPv4\nports:\n- {name: http, port: 8080, protocol: TCP}\n"
        + "- {name: idle, port: 8081, protocol: TCP}\nendpoints:\n- addresses: ["
        + web.ip()
        + "]\n  nodeName: node2\n";
  }

  private Connection connect() {
    return lab.connect(client.netns(), VIP, 80, TimeScale.scale(Duration.ofSeconds(3)));
  }

  private void awaitCount(int n) throws InterruptedException {
    long end = System.nanoTime() + TimeScale.scale(Duration.ofSeconds(10)).toNanos();
    String count = "";
    while (System.nanoTime() < end) {
      count = sysctlValue(node, COUNT_KEY);
      if (count.equals(String.valueOf(n))) {
        return;
      }
      Thread.sleep(200);
    }
    throw new AssertionError(COUNT_KEY + " on node1 is " + count + ", not " + n);
  }

  private static String sysctlValue(CommandRunner r, String key) {
    return r.run("sysctl", "-n", key).orThrow().stdout().strip();
  }

  private static final Pattern DROP = Pattern.compile("(?:^|\\s)drop=(\\d+)");

  /** The namespace's drop counters of {@code conntrack -S}, summed over the CPUs. */
  private static long drops(CommandRunner r) {
    long sum = 0;
    for (String l : r.run("conntrack", "-S").orThrow().stdout().lines().toList()) {
      Matcher m = DROP.matcher(l);
      if (m.find()) {
        sum += Long.parseLong(m.group(1));
      }
    }
    return sum;
  }

  private long tableFullLines() {
    return guest
        .run("dmesg")
        .orThrow()
        .stdout()
        .lines()
        .filter(l -> l.contains(TABLE_FULL))
        .count();
  }

  private DoctorReport live() {
    DoctorReport r = Doctor.standard().examine(DoctorInputs.live(node, Optional.empty()));
    System.out.println(DoctorFormatter.text(r));
    return r;
  }

  private static List<String> ids(DoctorReport r) {
    return r.findings().stream().map(Finding::id).toList();
  }

  /** The finding cites {@code text} at {@code file:N}, and line N of the file on disk says it. */
  private static void assertCited(Path dir, Finding f, String file, String text) throws Exception {
    Evidence e =
        f.evidence().stream()
            .filter(x -> x.text().equals(text) && x.where().matches(Pattern.quote(file) + ":\\d+"))
            .findFirst()
            .orElseThrow(
                () -> new AssertionError("no " + file + ":N evidence '" + text + "': " + f));
    int line = Integer.parseInt(e.where().substring(file.length() + 1));
    assertThat(Files.readAllLines(dir.resolve(file)).get(line - 1).strip()).isEqualTo(text);
  }
}
