package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.lab.Lab;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * nftables mode's kernel for {@link SyncBenchmark}: the {@code ip kube-proxy} table, loaded with
 * {@code nft -f}. Reading it back is the costly part: at 10k Services nft 1.0.6 fetches every rule
 * of the table to list one chain (9 s here), so changes are timed to the run's log line of the sync
 * that made them (nft -f returned: the kernel acknowledged the commit) and the chain is listed
 * afterwards to check. Watching {@code nft monitor} instead lagged the kernel by over a minute at
 * 10k: the monitor resolves every event against its own copy of the ruleset, and the first sync
 * leaves it 350k events behind; started on a full table it spends over 2 minutes of CPU reading the
 * ruleset before it reports anything.
 */
final class NftablesBenchKernel implements BenchKernel {
  private static final String TABLE = "kube-proxy";
  private static final Pattern MOD = Pattern.compile("numgen random mod (\\d+)");
  private static final Pattern ENDPOINT = Pattern.compile("goto (endpoint-[^\\s,}]+)");

  private static final String FLOOR_TABLE = "svcproxy-bench-floor";

  private final CommandRunner ns;
  private String render = "";

  NftablesBenchKernel(Lab lab, String netns) {
    this.ns = lab.runner().inNetns(netns);
  }

  @Override
  public String mode() {
    return "nftables";
  }

  @Override
  public String version() {
    return ns.run("nft", "--version").orThrow().stdout().strip();
  }

  @Override
  public void prepare(String render) {
    this.render = render;
  }

  @Override
  public void empty() {
    for (String table : List.of(TABLE, FLOOR_TABLE)) {
      CommandResult r = ns.run("nft", "delete", "table", "ip", table);
      if (!r.ok() && !r.stderr().contains("No such file")) {
        r.orThrow();
      }
    }
  }

  /** One `nft -f -`: the input is one transaction. */
  @Override
  public long load(String input, Duration timeout) {
    return BenchKernel.timed(ns, List.of("nft", "-f", "-"), input, timeout);
  }

  /**
   * The render's lines in their order, cut into loads of about {@code perBatch} services' worth of
   * lines each: every object is declared before the lines that use it, so any cut keeps each load
   * valid on what the earlier ones left.
   */
  @Override
  public List<String> batches(String render, int perBatch) {
    List<String> lines = render.lines().filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
    long services = lines.stream().filter(l -> l.matches("add chain \\S+ \\S+ service-.*")).count();
    int per = (int) Math.max(1, lines.size() * (long) perBatch / Math.max(1, services));
    List<String> out = new ArrayList<>();
    for (int i = 0; i < lines.size(); i += per) {
      out.add(String.join("\n", lines.subList(i, Math.min(lines.size(), i + per))) + "\n");
    }
    return out;
  }

  @Override
  public int[] chainCounts() {
    // nft 1.0.6 lists chains per family, not per table; only kube-proxy names chains so.
    String chains = ns.run("nft", "list", "chains", "ip").orThrow().stdout();
    return new int[] {count(chains, "chain service-"), count(chains, "chain endpoint-")};
  }

  @Override
  public String serviceChain(String ip) {
    String map = ns.run("nft", "list", "map", "ip", TABLE, "service-ips").orThrow().stdout();
    Matcher m =
        Pattern.compile("(?<![\\d.])" + Pattern.quote(ip) + " \\. tcp \\. 80 : goto ([^\\s,}]+)")
            .matcher(map);
    if (!m.find()) {
      throw new IllegalStateException("the kernel's service-ips map has no element for " + ip);
    }
    return m.group(1);
  }

  /** Listing one chain fetches every rule and set of the table first: seconds at 10k. */
  @Override
  public boolean slowToRead() {
    return true;
  }

  @Override
  public int endpoints(String chain) {
    CommandResult r = ns.run("nft", "list", "chain", "ip", TABLE, chain);
    return r.ok() ? endpointsIn(r.stdout()) : -1;
  }

  private static int endpointsIn(String text) {
    Matcher m = MOD.matcher(text);
    if (m.find()) {
      return Integer.parseInt(m.group(1));
    }
    // A single endpoint may be a plain goto (upstream since July 2026).
    Matcher e = ENDPOINT.matcher(text);
    int n = 0;
    while (e.find()) {
      n++;
    }
    return n;
  }

  /**
   * The service's own chains (its service chain and endpoint chains, named after the same
   * ns/name/proto/port) as the render wrote them, each flushed and refilled in one transaction:
   * what a minimal writer sends for one Service. Taken from the render, since listing the chains
   * back costs seconds each at 10k Services, and written into a table of its own beside
   * kube-proxy's, so the floor leaves the run's table alone: nft's cost is its cache of every chain
   * of the ruleset, whichever table a transaction names.
   */
  @Override
  public String serviceInput(String svcChain) {
    // service-HASH-ns/name/proto/port: the part after the second '-' names the service port.
    String base = svcChain.substring(svcChain.indexOf('-', "service-".length()) + 1);
    List<String> chains = new ArrayList<>();
    List<String> rules = new ArrayList<>();
    String addChain = "add chain ip " + TABLE + " ";
    String addRule = "add rule ip " + TABLE + " ";
    for (String l : render.lines().toList()) {
      if (l.startsWith(addChain) && ownedBy(l.substring(addChain.length()), base)) {
        chains.add(l.substring(addChain.length()).split(" ", 2)[0]);
      } else if (l.startsWith(addRule) && ownedBy(l.substring(addRule.length()), base)) {
        rules.add(l);
      }
    }
    if (chains.isEmpty()) {
      throw new IllegalStateException("the render has no chains of " + base);
    }
    String floor = "ip " + FLOOR_TABLE + " ";
    StringBuilder s = new StringBuilder();
    s.append("add table ").append(floor.strip()).append('\n');
    s.append("add chain ").append(floor).append("mark-for-masquerade\n");
    for (String c : chains) {
      s.append("add chain ").append(floor).append(c).append('\n');
      s.append("flush chain ").append(floor).append(c).append('\n');
    }
    for (String r : rules) {
      s.append("add rule ").append(floor).append(r.substring(addRule.length())).append('\n');
    }
    return s.toString();
  }

  /** Whether the chain named first in {@code rest} belongs to the service port {@code base}. */
  private static boolean ownedBy(String rest, String base) {
    String chain = rest.split(" ", 2)[0];
    return chain.endsWith("-" + base) || chain.contains("-" + base + "__");
  }

  @Override
  public String loadName() {
    return "one nft -f of the render";
  }

  @Override
  public String batchName() {
    return "services/nft -f";
  }

  @Override
  public String serviceInputName() {
    return "nft -f of the service's own chains";
  }

  @Override
  public List<String> chainKinds() {
    return List.of("service-", "endpoint-");
  }

  /** Chains of one kind: upstream's names of per-service chains hold a '/' (ns/name/...). */
  private static int count(String text, String prefix) {
    return (int)
        text.lines()
            .map(String::strip)
            .filter(l -> l.startsWith(prefix) && l.contains("/"))
            .count();
  }
}
