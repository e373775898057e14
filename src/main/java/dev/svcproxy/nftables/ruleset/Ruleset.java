package dev.svcproxy.nftables.ruleset;

import java.util.List;
import java.util.Optional;

/**
 * An nftables ruleset as the kernel holds it (the READ side, from {@code nft -j list ruleset}):
 * tables of every family with their chains, rules and named sets and maps. Immutable.
 */
public record Ruleset(List<Table> tables) {
  public Ruleset {
    tables = List.copyOf(tables);
  }

  /** The empty ruleset (no nft-ruleset.json in a bundle). */
  public static Ruleset empty() {
    return new Ruleset(List.of());
  }

  /** A table: family ("ip", "inet", "ip6", "arp", "bridge", "netdev"), name, chains, sets. */
  public record Table(
      String family, String name, long handle, List<Chain> chains, List<NamedSet> sets) {
    public Table {
      chains = List.copyOf(chains);
      sets = List.copyOf(sets);
    }

    public Optional<Chain> chain(String chainName) {
      return chains.stream().filter(c -> c.name().equals(chainName)).findFirst();
    }

    public Optional<NamedSet> set(String setName) {
      return sets.stream().filter(s -> s.name().equals(setName)).findFirst();
    }

    /** "ip kube-proxy". */
    public String label() {
      return family + " " + name;
    }
  }

  /**
   * A chain; a base chain has a type ("filter", "nat", "route"), a hook ("prerouting", ...), a
   * priority (numeric, named ones already resolved for the family) and a policy ("accept", "drop");
   * a regular chain has none of them (null).
   */
  public record Chain(
      String name,
      long handle,
      String type,
      String hook,
      Integer priority,
      String policy,
      String comment,
      List<Rule> rules) {
    public Chain {
      rules = List.copyOf(rules);
    }

    public boolean isBase() {
      return hook != null;
    }
  }

  /** A rule: its handle, its comment (or null) and its statements in order. */
  public record Rule(long handle, String comment, List<Stmt> statements) {
    public Rule {
      statements = List.copyOf(statements);
    }
  }

  /**
   * A named set, or a map when {@code map} is its data type ("verdict", "ipv4_addr", ...); {@code
   * type} lists the key type (several for a concatenation); {@code timeout} in seconds or null.
   */
  public record NamedSet(
      String name,
      long handle,
      List<String> type,
      String map,
      List<String> flags,
      Long timeout,
      String comment,
      List<Element> elements) {
    public NamedSet {
      type = List.copyOf(type);
      flags = List.copyOf(flags);
      elements = List.copyOf(elements);
    }

    public boolean isMap() {
      return map != null;
    }
  }

  /**
   * One element of a set or map: its key (a value, prefix, range or concatenation of them), the
   * mapped value (null in a set), its timeout and time left in seconds (null when none) and
   * comment.
   */
  public record Element(Expr key, Expr value, Long timeout, Long expires, String comment) {}
}
