package dev.svcproxy.kernel;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.netfilter.TableRule;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The iptables side of the kernel: chains and jump rules ensured one command at a time,
 * iptables-restore of a whole ruleset, iptables-save reads, and the capability probes upstream
 * makes (--random-fully, nfacct, tcp_be_liberal).
 */
public final class IptablesKernel {
  /** Wait flags upstream passes to iptables >= 1.6.2 so concurrent writers queue on the lock. */
  public static final List<String> WAIT = List.of("-w", "5", "-W", "100000");

  private static final Duration RESTORE_TIMEOUT = Duration.ofMinutes(5);

  private final CommandRunner runner;
  private final String iptables;

  /** The system's default iptables (whichever backend `iptables` points at). */
  public IptablesKernel(CommandRunner runner) {
    this(runner, "iptables");
  }

  /**
   * @param iptables the command family to use: "iptables", "iptables-nft" or "iptables-legacy"
   *     (with its -save and -restore siblings)
   */
  public IptablesKernel(CommandRunner runner, String iptables) {
    this.runner = runner;
    this.iptables = iptables;
  }

  /** Creates {@code chain} unless it exists. */
  public void ensureChain(String table, String chain) {
    CommandResult r = iptables(List.of("-t", table, "-N", chain));
    if (!r.ok() && !r.stderr().contains("exists")) {
      r.orThrow();
    }
  }

  public boolean chainExists(String table, String chain) {
    return iptables(List.of("-t", table, "-S", chain)).ok();
  }

  /**
   * The rules of one chain as `iptables -S` prints them ("-A CHAIN ..."), or empty when the chain
   * does not exist. Listing one chain reads only that chain: on a built-in chain it stays cheap
   * however many service chains the table holds.
   */
  public java.util.Optional<List<String>> listRules(String table, String chain) {
    CommandResult r = iptables(List.of("-t", table, "-S", chain));
    if (!r.ok()) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of(r.stdout().lines().filter(l -> l.startsWith("-A ")).toList());
  }

  /** Ensures the jump rule is in its chain, inserting it first when missing. */
  public void ensureJump(TableRule jump) {
    ensureChain(jump.table(), jump.rule().target());
    if (iptables(jump.argv("-C")).ok()) {
      return;
    }
    iptables(jump.argv("-I")).orThrow();
  }

  /** Deletes a jump rule; absent rules are fine. */
  public void deleteJump(TableRule jump) {
    iptables(jump.argv("-D"));
  }

  /** iptables-restore --noflush --counters of the given input. */
  public CommandResult restore(String input) {
    List<String> argv = new ArrayList<>(List.of(iptables + "-restore"));
    argv.addAll(WAIT);
    argv.add("--noflush");
    argv.add("--counters");
    return runner.run(argv, input, RESTORE_TIMEOUT);
  }

  /** iptables-save of one table, parsed. */
  public Ruleset save(String table) {
    return IptablesCodec.parse(saveText(table), iptables + "-save -t " + table).ruleset();
  }

  /** iptables-save of one table, as the tool prints it. */
  public String saveText(String table) {
    return runner.run(List.of(iptables + "-save", "-t", table)).orThrow().stdout();
  }

  /** Names of the chains a table holds. */
  public Set<String> chains(String table) {
    Set<String> out = new LinkedHashSet<>();
    for (Table t : save(table).tables()) {
      for (Line.ChainDecl c : t.chainDecls()) {
        out.add(c.name());
      }
    }
    return out;
  }

  /** Flushes and deletes the chains of {@code table} matching {@code ours}, in one restore. */
  public CommandResult deleteChains(String table, Predicate<String> ours) {
    Set<String> found = new LinkedHashSet<>();
    for (String c : chains(table)) {
      if (ours.test(c)) {
        found.add(c);
      }
    }
    if (found.isEmpty()) {
      return new CommandResult(List.of(iptables + "-restore"), 0, "", "");
    }
    StringBuilder in = new StringBuilder("*").append(table).append('\n');
    found.forEach(c -> in.append(':').append(c).append(" - [0:0]\n"));
    found.forEach(c -> in.append("-X ").append(c).append('\n'));
    in.append("COMMIT\n");
    return restore(in.toString());
  }

  /**
   * True when this command family is iptables-legacy (x_tables), false for iptables-nft; asks
   * {@code iptables --version} when the family is the system's default.
   */
  public boolean legacy() {
    if (!iptables.equals("iptables")) {
      return iptables.endsWith("-legacy");
    }
    CommandResult r = runner.run(iptables, "--version");
    return r.ok() && r.stdout().contains("(legacy)");
  }

  /** True when iptables is 1.6.2 or newer, which knows MASQUERADE --random-fully. */
  public boolean supportsRandomFully() {
    CommandResult r = runner.run(iptables, "--version");
    Matcher m = Pattern.compile("v(\\d+)\\.(\\d+)\\.(\\d+)").matcher(r.stdout());
    if (!r.ok() || !m.find()) {
      return false;
    }
    int v = Integer.parseInt(m.group(1)) * 10000 + Integer.parseInt(m.group(2)) * 100;
    return v + Integer.parseInt(m.group(3)) >= 10602;
  }

  /** Ensures an nfacct counter; false when nfacct is unavailable on this node. */
  public boolean ensureNfacct(String name) {
    CommandResult list = runner.run("nfacct", "get", name);
    if (list.ok()) {
      return true;
    }
    return runner.run("nfacct", "add", name).ok();
  }

  /** Runs `nfacct ARGS`, for read-only probes ("get NAME", "list"). */
  public CommandResult nfacct(String... args) {
    List<String> argv = new ArrayList<>(List.of("nfacct"));
    argv.addAll(List.of(args));
    return runner.run(argv);
  }

  /** Reads a sysctl ("net.ipv4.ip_forward"); null when it cannot be read. */
  public String sysctl(String key) {
    CommandResult r = runner.run("sysctl", "-n", key);
    return r.ok() ? r.stdout().strip() : null;
  }

  public void setSysctl(String key, String value) {
    runner.run("sysctl", "-w", key + "=" + value).orThrow();
  }

  private CommandResult iptables(List<String> args) {
    List<String> argv = new ArrayList<>(List.of(iptables));
    argv.addAll(WAIT);
    argv.addAll(args);
    return runner.run(argv);
  }
}
