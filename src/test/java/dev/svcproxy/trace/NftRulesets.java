package dev.svcproxy.trace;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.testutil.States;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * nft rulesets for tracer tests: `add ...` transactions from test resources, loaded into a lab
 * namespace with `nft -f`, and the kernel's `nft -j list ruleset` of them (nft 1.0.6 here), which
 * is what a bundle holds.
 */
final class NftRulesets {
  private NftRulesets() {}

  /**
   * The resources as one transaction, in an order nft accepts (tables, then sets and maps, then
   * chains, then rules and elements in their written order): upstream's expected dumps are compared
   * after sorting, so they are not in load order.
   */
  static String transaction(String... resources) {
    List<String[]> lines = new ArrayList<>();
    int n = 0;
    for (String r : resources) {
      for (String l : States.resource("/nftables/" + r).split("\n")) {
        String t = l.strip();
        if (t.isEmpty() || t.startsWith("#")) {
          continue;
        }
        String rank =
            t.startsWith("add table")
                ? "0"
                : t.startsWith("add set") || t.startsWith("add map")
                    ? "1"
                    : t.startsWith("add chain") ? "2" : "3";
        lines.add(new String[] {rank, String.format("%08d", n++), t});
      }
    }
    lines.sort(Comparator.comparing((String[] a) -> a[0]).thenComparing(a -> a[1]));
    StringBuilder b = new StringBuilder();
    lines.forEach(a -> b.append(a[2]).append('\n'));
    return b.toString();
  }

  /** Replaces the namespace's ruleset with {@code transaction}; returns `nft -j list ruleset`. */
  static String load(CommandRunner netns, String transaction) {
    netns.run("nft", "flush", "ruleset").orThrow();
    CommandResult r = netns.run(List.of("nft", "-f", "-"), transaction, Duration.ofSeconds(30));
    assertThat(r.ok()).as("nft -f: %s", r.stderr()).isTrue();
    return netns.run("nft", "-j", "list", "ruleset").orThrow().stdout();
  }
}
