package dev.svcproxy.trace.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.bundle.BundleReader;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * `ipset test` in a throw-away namespace is the oracle for set membership: the tracer reads the
 * namespace's `ipset save` and must say what the kernel says for each address.
 */
class IpSetsKernelTest {
  private static Lab lab;
  private static CommandRunner node;

  @BeforeAll
  static void setUp() {
    KernelTests.require("kernel tests");
    lab = Lab.create(new ProcessCommandRunner(), 1);
    node = lab.runner().inNetns(lab.node("node1").netns());
  }

  @AfterAll
  static void tearDown() {
    if (lab != null) {
      lab.close();
    }
  }

  private static void ipset(String... argv) {
    String[] full = new String[argv.length + 1];
    full[0] = "ipset";
    System.arraycopy(argv, 0, full, 1, argv.length);
    node.run(full).orThrow();
  }

  /** What the kernel says: `ipset test` exits 0 for a member, non-zero otherwise. */
  private static boolean kernelSays(String set, String element) {
    return node.run("ipset", "test", set, element).ok();
  }

  private static NodeState saved() {
    String save = node.run("ipset", "save").orThrow().stdout();
    return BundleReader.fromFiles(Map.of("ipset-save.txt", save));
  }

  private static boolean tracerSays(NodeState n, String set, String dst, String proto, int port) {
    Branch b = new Branch("10.9.9.9", 40000, dst, port, proto, "eth0");
    return IpSets.contains(n.ipsets().get(set), new String[] {"dst"}, b, n.ipsets(), false);
  }

  @Test
  void contains_hashNetWithNomatchHole_mostSpecificEntryDecidesAsIpsetTest() {
    ipset("create", "H7-NOMATCH", "hash:net");
    ipset("add", "H7-NOMATCH", "192.168.0.0/24");
    ipset("add", "H7-NOMATCH", "192.168.0.8/29", "nomatch");
    ipset("add", "H7-NOMATCH", "192.168.0.9/32");
    ipset("create", "H7-NOMATCH-PORT", "hash:net,port");
    ipset("add", "H7-NOMATCH-PORT", "10.1.0.0/16,tcp:80");
    ipset("add", "H7-NOMATCH-PORT", "10.1.2.0/24,tcp:80", "nomatch");
    ipset("add", "H7-NOMATCH-PORT", "10.1.2.0/24,udp:53");
    NodeState n = saved();
    for (String ip : List.of("192.168.0.1", "192.168.0.8", "192.168.0.9", "192.168.0.10")) {
      assertThat(tracerSays(n, "H7-NOMATCH", ip, "tcp", 80))
          .as(ip)
          .isEqualTo(kernelSays("H7-NOMATCH", ip));
    }
    for (String el :
        List.of("10.1.1.1,tcp:80", "10.1.2.3,tcp:80", "10.1.2.3,udp:53", "10.1.1.1,udp:53")) {
      String[] f = el.split("[,:]");
      assertThat(tracerSays(n, "H7-NOMATCH-PORT", f[0], f[1], Integer.parseInt(f[2])))
          .as(el)
          .isEqualTo(kernelSays("H7-NOMATCH-PORT", el));
    }
    // The hole itself, written down so the test cannot pass by the kernel saying "member" to all.
    assertThat(kernelSays("H7-NOMATCH", "192.168.0.10")).isFalse();
  }

  @Test
  void contains_portWithoutProtocolAndRange_asIpsetTest() {
    ipset("create", "H7-IPPORT", "hash:ip,port");
    ipset("add", "H7-IPPORT", "10.2.0.1,8080");
    ipset("add", "H7-IPPORT", "10.2.0.2,udp:53-55");
    NodeState n = saved();
    for (String el :
        List.of(
            "10.2.0.1,tcp:8080",
            "10.2.0.1,udp:8080",
            "10.2.0.2,udp:54",
            "10.2.0.2,udp:56",
            "10.2.0.2,tcp:54")) {
      String[] f = el.split("[,:]");
      assertThat(tracerSays(n, "H7-IPPORT", f[0], f[1], Integer.parseInt(f[2])))
          .as(el)
          .isEqualTo(kernelSays("H7-IPPORT", el));
    }
  }
}
