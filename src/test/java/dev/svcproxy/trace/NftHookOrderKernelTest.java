package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.kernel.ProcessCommandRunner;
import dev.svcproxy.lab.Lab;
import dev.svcproxy.testutil.KernelTests;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Two nft base chains at the same hook and priority: the kernel runs the one registered later first
 * (nf_hook_entries_grow inserts a new hook before those of equal priority), and so must the tracer.
 * Seen on the kernel by marks: each table counts packets carrying the other's mark.
 */
class NftHookOrderKernelTest {

  @Test
  void equalPriorityBaseChains_laterTableFirst_asTheKernelRunsThem() {
    KernelTests.require("nftables tracer-vs-kernel tests");
    try (Lab lab = Lab.create(new ProcessCommandRunner(), 1)) {
      CommandRunner node = lab.runner().inNetns(lab.node("node1").netns());
      String tables =
          """
          table ip first {
            chain out {
              type filter hook output priority 0; policy accept;
              meta mark 0x2 counter
              meta mark set 0x1
            }
          }
          table ip second {
            chain out {
              type filter hook output priority 0; policy accept;
              meta mark 0x1 counter
              meta mark set 0x2
            }
          }
          """;
      assertThat(node.run(List.of("nft", "-f", "-"), tables, java.time.Duration.ofSeconds(10)).ok())
          .isTrue();
      node.run("bash", "-c", "echo > /dev/tcp/127.0.0.1/9 || true");
      // The kernel: second ran first (first saw its mark 0x2), first's mark never reached second.
      assertThat(node.run("nft", "list", "table", "ip", "first").stdout())
          .containsPattern("counter packets [1-9]");
      assertThat(node.run("nft", "list", "table", "ip", "second").stdout())
          .contains("counter packets 0 bytes 0");

      NodeState bundle = BundleReader.fromFiles(BundleCapture.capture(node));
      TraceResult t =
          new Tracer(bundle).trace(new PacketSpec(null, 40000, "127.0.0.1", 9, "tcp", null));
      List<String> order =
          t.outcomes().get(0).steps().stream()
              .map(Step::table)
              .filter(x -> x != null && x.startsWith("nft ip "))
              .distinct()
              .toList();
      assertThat(order).startsWith("nft ip second", "nft ip first");
    }
  }
}
