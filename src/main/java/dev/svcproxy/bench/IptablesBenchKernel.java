package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** iptables mode's kernel for {@link SyncBenchmark}, through the chosen backend's binaries. */
final class IptablesBenchKernel implements BenchKernel {
  private final CommandRunner ns;
  private final String iptables;
  private final String restore;
  private final String save;

  IptablesBenchKernel(CommandRunner ns, Path bin) {
    this.ns = ns;
    this.iptables = bin.resolve("iptables").toString();
    this.restore = bin.resolve("iptables-restore").toString();
    this.save = bin.resolve("iptables-save").toString();
  }

  @Override
  public String mode() {
    return "iptables";
  }

  @Override
  public String version() {
    return ns.run(iptables, "--version").orThrow().stdout().strip();
  }

  @Override
  public void prepare(String render) {
    // render predicts the nfacct counters run creates before its first restore; the floors
    // restore the same text, so the counters must exist for them too.
    for (String counter : SyncBenchmark.nfacctCounters(render)) {
      ns.run(List.of("nfacct", "add", counter), null, Duration.ofSeconds(10)).orThrow();
    }
  }

  @Override
  public void empty() {
    for (String table : List.of("nat", "filter")) {
      ns.run(List.of(iptables, "-t", table, "-F"), null, Duration.ofMinutes(10)).orThrow();
      ns.run(List.of(iptables, "-t", table, "-X"), null, Duration.ofMinutes(10)).orThrow();
    }
  }

  /** One `iptables-restore --noflush`. */
  @Override
  public long load(String input, Duration timeout) {
    return BenchKernel.timed(ns, List.of(restore, "--noflush"), input, timeout);
  }

  @Override
  public List<String> batches(String render, int perBatch) {
    return batchesOf(render, perBatch);
  }

  @Override
  public int[] chainCounts() {
    String nat = ns.run(List.of(save, "-t", "nat")).orThrow().stdout();
    return new int[] {countPrefix(nat, ":KUBE-SVC-"), countPrefix(nat, ":KUBE-SEP-")};
  }

  /** The KUBE-SVC chain KUBE-SERVICES sends {@code ip} to, read from the kernel's rules. */
  @Override
  public String serviceChain(String ip) {
    String nat = ns.run(List.of(save, "-t", "nat")).orThrow().stdout();
    for (String line : nat.lines().toList()) {
      if (line.startsWith("-A KUBE-SERVICES ") && line.contains(" -d " + ip + "/32 ")) {
        String t = target(line);
        if (t != null && t.startsWith("KUBE-SVC-")) {
          return t;
        }
      }
    }
    throw new IllegalStateException("the kernel has no KUBE-SERVICES rule for " + ip);
  }

  /** Jumps to endpoint chains in one service chain. */
  @Override
  public int endpoints(String chain) {
    CommandResult r = ns.run(iptables, "-t", "nat", "-S", chain);
    if (!r.ok()) {
      return -1;
    }
    return (int)
        r.stdout().lines().filter(l -> l.startsWith("-A ") && l.contains(" -j KUBE-SEP-")).count();
  }

  /** The service's own chains as the kernel holds them, as a --noflush restore input. */
  @Override
  public String serviceInput(String svcChain) {
    List<String> chains = new ArrayList<>(List.of(svcChain));
    List<String> rules = new ArrayList<>();
    for (int i = 0; i < chains.size(); i++) {
      for (String l :
          ns.run(iptables, "-t", "nat", "-S", chains.get(i)).orThrow().stdout().lines().toList()) {
        if (l.startsWith("-A ")) {
          rules.add(l);
          String t = target(l);
          if (t != null && t.startsWith("KUBE-SEP-") && !chains.contains(t)) {
            chains.add(t);
          }
        }
      }
    }
    StringBuilder s = new StringBuilder("*nat\n");
    chains.forEach(c -> s.append(':').append(c).append(" - [0:0]\n"));
    rules.forEach(l -> s.append(l).append('\n'));
    return s.append("COMMIT\n").toString();
  }

  @Override
  public String loadName() {
    return "one iptables-restore of the render";
  }

  @Override
  public String batchName() {
    return "services/restore";
  }

  @Override
  public String serviceInputName() {
    return "restore of the service's own lines";
  }

  @Override
  public List<String> chainKinds() {
    return List.of("KUBE-SVC", "KUBE-SEP");
  }

  /**
   * The render cut into restore inputs: each batch holds the own chains (KUBE-SVC/SVL/EXT/FW/SEP)
   * of {@code perBatch} services, loaded while nothing jumps to them; the last input is everything
   * else (the shared chains that point at them, and the filter table).
   */
  static List<String> batchesOf(String text, int perBatch) {
    Map<String, List<String>> tables = new LinkedHashMap<>();
    String table = null;
    for (String line : text.lines().toList()) {
      if (line.startsWith("*")) {
        table = line.substring(1);
        tables.put(table, new ArrayList<>());
      } else if (table != null
          && !line.equals("COMMIT")
          && !line.isBlank()
          && !line.startsWith("#")) {
        tables.get(table).add(line);
      }
    }
    List<String> nat = tables.getOrDefault("nat", List.of());
    Map<String, List<String>> jumps = new HashMap<>();
    Set<String> roots = new LinkedHashSet<>();
    for (String line : nat) {
      if (!line.startsWith("-A ")) {
        continue;
      }
      String chain = line.split(" ", 3)[1];
      String target = target(line);
      if (target == null || !own(target)) {
        continue;
      }
      if (own(chain)) {
        jumps.computeIfAbsent(chain, k -> new ArrayList<>()).add(target);
      } else {
        roots.add(target);
      }
    }
    Map<String, Integer> group = new HashMap<>();
    int g = 0;
    for (String r : roots) {
      if (group.containsKey(r)) {
        continue;
      }
      ArrayDeque<String> todo = new ArrayDeque<>(List.of(r));
      while (!todo.isEmpty()) {
        String c = todo.poll();
        if (group.putIfAbsent(c, g / perBatch) == null) {
          todo.addAll(jumps.getOrDefault(c, List.of()));
        }
      }
      g++;
    }
    int count = Math.max(1, (g + perBatch - 1) / perBatch);
    List<List<String>> decls = new ArrayList<>();
    List<List<String>> rules = new ArrayList<>();
    for (int b = 0; b < count; b++) {
      decls.add(new ArrayList<>());
      rules.add(new ArrayList<>());
    }
    List<String> rest = new ArrayList<>();
    for (String line : nat) {
      String chain =
          line.startsWith(":") ? line.substring(1).split(" ", 2)[0] : line.split(" ", 3)[1];
      Integer b = group.get(chain);
      if (b == null) {
        rest.add(line);
      } else if (line.startsWith(":")) {
        decls.get(b).add(line);
      } else {
        rules.get(b).add(line);
      }
    }
    List<String> out = new ArrayList<>();
    for (int b = 0; b < count; b++) {
      if (decls.get(b).isEmpty()) {
        continue;
      }
      StringBuilder s = new StringBuilder("*nat\n");
      // Declared so the batch's jumps to it resolve on an empty kernel; the last input fills it.
      s.append(":KUBE-MARK-MASQ - [0:0]\n");
      decls.get(b).forEach(l -> s.append(l).append('\n'));
      rules.get(b).forEach(l -> s.append(l).append('\n'));
      out.add(s.append("COMMIT\n").toString());
    }
    StringBuilder last = new StringBuilder();
    for (Map.Entry<String, List<String>> t : tables.entrySet()) {
      last.append('*').append(t.getKey()).append('\n');
      (t.getKey().equals("nat") ? rest : t.getValue()).forEach(l -> last.append(l).append('\n'));
      last.append("COMMIT\n");
    }
    out.add(last.toString());
    return out;
  }

  private static boolean own(String chain) {
    return chain.startsWith("KUBE-SVC-")
        || chain.startsWith("KUBE-SVL-")
        || chain.startsWith("KUBE-EXT-")
        || chain.startsWith("KUBE-FW-")
        || chain.startsWith("KUBE-SEP-");
  }

  private static String target(String rule) {
    String[] w = rule.split(" ");
    for (int i = 0; i < w.length - 1; i++) {
      if (w[i].equals("-j") || w[i].equals("-g")) {
        return w[i + 1];
      }
    }
    return null;
  }

  private static int countPrefix(String text, String prefix) {
    return (int) text.lines().filter(l -> l.startsWith(prefix)).count();
  }
}
