package dev.svcproxy.testutil;

import dev.svcproxy.kernel.CommandRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** What a kernel holds, read back with the real iptables-save, for kernel tests to compare. */
public final class SavedTables {
  private SavedTables() {}

  /**
   * iptables-save of one table in a form independent of creation order: each chain with its policy
   * and its rules in order (as the tool prints them), counters and comment lines dropped.
   */
  public static Map<String, List<String>> canonical(
      CommandRunner node, String backend, String table) {
    String saved = node.run(backend + "-save", "-t", table).orThrow().stdout();
    Map<String, List<String>> out = new TreeMap<>();
    for (String l : saved.lines().toList()) {
      if (l.startsWith(":")) {
        String[] f = l.substring(1).split(" ");
        out.computeIfAbsent(f[0], k -> new ArrayList<>()).add(0, "policy " + f[1]);
      } else if (l.startsWith("-A ")) {
        out.computeIfAbsent(l.split(" ")[1], k -> new ArrayList<>()).add(l);
      }
    }
    return out;
  }
}
