package dev.svcproxy.bench;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * nftables mode's kernel for {@link SyncBenchmark}: the {@code ip kube-proxy} table, loaded with
 * {@code nft -f} and read back with {@code nft list}, never listing the whole table (at 10k
 * Services that alone takes seconds).
 */
final class NftablesBenchKernel implements BenchKernel {
  private static final String TABLE = "kube-proxy";
  private static final Pattern MOD = Pattern.compile("numgen random mod (\\d+)");
  private static final Pattern ENDPOINT = Pattern.compile("goto (endpoint-[^\\s,}]+)");

  private final CommandRunner ns;

  NftablesBenchKernel(CommandRunner ns) {
    this.ns = ns;
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
  public void prepare(String render) {}

  @Override
  public void empty() {
    CommandResult r = ns.run("nft", "delete", "table", "ip", TABLE);
    if (!r.ok() && !r.stderr().contains("No such file")) {
      r.orThrow();
    }
  }

  /** One `nft -f -`: the input is one transaction. */
  @Override
  public long load(String input, Duration timeout) {
    long t0 = System.nanoTime();
    CommandResult r = ns.run(List.of("nft", "-f", "-"), input, timeout);
    long took = (System.nanoTime() - t0) / 1_000_000;
    if (r.exitCode() == 124) {
      return -1;
    }
    r.orThrow();
    return took;
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

  @Override
  public int endpoints(String chain) {
    CommandResult r = ns.run("nft", "list", "chain", "ip", TABLE, chain);
    if (!r.ok()) {
      return -1;
    }
    Matcher m = MOD.matcher(r.stdout());
    if (m.find()) {
      return Integer.parseInt(m.group(1));
    }
    // A single endpoint may be a plain goto (upstream since July 2026).
    Matcher e = ENDPOINT.matcher(r.stdout());
    int n = 0;
    while (e.find()) {
      n++;
    }
    return n;
  }

  /** The service chain and its endpoint chains as the kernel holds them, rewritten in one go. */
  @Override
  public String serviceInput(String svcChain) {
    List<String> chains = new ArrayList<>(List.of(svcChain));
    StringBuilder s = new StringBuilder();
    for (int i = 0; i < chains.size(); i++) {
      String c = chains.get(i);
      s.append("add chain ip ").append(TABLE).append(' ').append(c).append('\n');
      s.append("flush chain ip ").append(TABLE).append(' ').append(c).append('\n');
      for (String rule : rules(c)) {
        s.append("add rule ip ").append(TABLE).append(' ').append(c).append(' ').append(rule);
        s.append('\n');
        Matcher e = ENDPOINT.matcher(rule);
        while (e.find()) {
          if (!chains.contains(e.group(1))) {
            chains.add(e.group(1));
          }
        }
      }
    }
    return s.toString();
  }

  /** The rules of one chain as `nft list chain` prints them, one per line. */
  private List<String> rules(String chain) {
    List<String> out = new ArrayList<>();
    boolean in = false;
    for (String l :
        ns.run("nft", "list", "chain", "ip", TABLE, chain).orThrow().stdout().lines().toList()) {
      String t = l.strip();
      if (t.startsWith("chain ")) {
        in = true;
      } else if (in && t.equals("}")) {
        in = false;
      } else if (in && !t.isEmpty() && !t.startsWith("type ") && !t.startsWith("policy ")) {
        out.add(t);
      }
    }
    return out;
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
