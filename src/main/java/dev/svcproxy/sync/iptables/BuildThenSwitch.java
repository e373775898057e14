package dev.svcproxy.sync.iptables;

import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.render.iptables.ChainNames;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Splits one restore input into transactions that keep traffic on the old rules or the new, never a
 * mix: first the per-service nat chains the kernel lacks, in batches (nothing references them yet),
 * then one switch transaction with everything else (the top-level chains that point at them, the
 * filter table, and the service chains the kernel already holds), then the stale chains' deletion.
 * iptables-restore's cost grows faster than linearly with the size of one transaction (iptables
 * 1.8.9 nf_tables: 4k lines 61 ms, 42k lines 3.6 s; 420k lines over 8 minutes), so many small
 * transactions beat one large one. A pure function.
 */
final class BuildThenSwitch {
  private BuildThenSwitch() {}

  /**
   * The transactions of one sync.
   *
   * @param builds restore inputs of new, unreferenced service chains, each for whole service ports
   * @param switchInput the atomic rest; it references the chains of every build
   * @param stale service chains to delete once the switch is in (see {@link #deletions})
   */
  record Plan(List<Batch> builds, Ruleset switchInput, List<String> stale) {
    /** True when the whole input goes as one transaction. */
    boolean single() {
      return builds.isEmpty() && stale.isEmpty();
    }
  }

  /** One build transaction: its input and the chains and service ports it creates. */
  record Batch(String text, List<String> chains, Set<ServicePortName> services) {}

  /**
   * Splits {@code input}. When it has at most {@code maxLines} lines it stays one transaction (as
   * atomic as it gets, and small enough to be fast).
   *
   * @param inKernel whether the kernel's nat table holds a chain (then a rule may reference it, so
   *     it is rewritten only in the switch)
   * @param owners the service port owning each per-service chain name (computed only when a chain
   *     the kernel lacks needs an owner)
   */
  static Plan plan(
      Ruleset input,
      Predicate<String> inKernel,
      Supplier<Map<String, ServicePortName>> owners,
      int maxLines) {
    Table nat = input.table("nat").orElse(null);
    if (nat == null || lines(input) <= maxLines) {
      return new Plan(List.of(), input, List.of());
    }
    Set<String> stale = new HashSet<>();
    for (Line l : nat.lines()) {
      if (l instanceof Line.DeleteChain d) {
        stale.add(d.name());
      }
    }
    // Service port -> its new chains' lines, declarations first, in the render's order.
    Map<ServicePortName, List<Line>> decls = new LinkedHashMap<>();
    Map<ServicePortName, List<Line>> rules = new LinkedHashMap<>();
    Map<ServicePortName, List<String>> chains = new LinkedHashMap<>();
    List<Line> rest = new ArrayList<>();
    Map<String, ServicePortName> ownerOf = null;
    for (Line l : nat.lines()) {
      String chain =
          switch (l) {
            case Line.ChainDecl c -> c.name();
            case Line.RuleLine r -> r.rule().chain();
            case Line.DeleteChain d -> d.name();
            default -> null;
          };
      if (chain != null && stale.contains(chain)) {
        continue;
      }
      if (chain == null || inKernel.test(chain) || !ChainNames.isServiceChain(chain)) {
        rest.add(l);
        continue;
      }
      if (ownerOf == null) {
        ownerOf = owners.get();
      }
      ServicePortName owner = ownerOf.get(chain);
      if (owner == null) {
        rest.add(l);
      } else if (l instanceof Line.ChainDecl) {
        decls.computeIfAbsent(owner, k -> new ArrayList<>()).add(l);
        chains.computeIfAbsent(owner, k -> new ArrayList<>()).add(chain);
      } else {
        rules.computeIfAbsent(owner, k -> new ArrayList<>()).add(l);
      }
    }
    List<Batch> builds = new ArrayList<>();
    List<Line> batch = new ArrayList<>();
    List<Line> batchRules = new ArrayList<>();
    List<String> batchChains = new ArrayList<>();
    Set<ServicePortName> batchServices = new HashSet<>();
    for (Map.Entry<ServicePortName, List<Line>> e : decls.entrySet()) {
      List<Line> own = rules.getOrDefault(e.getKey(), List.of());
      int size = e.getValue().size() + own.size();
      if (!batch.isEmpty() && batch.size() + batchRules.size() + size > maxLines) {
        builds.add(batch(batch, batchRules, batchChains, batchServices));
        batch = new ArrayList<>();
        batchRules = new ArrayList<>();
        batchChains = new ArrayList<>();
        batchServices = new HashSet<>();
      }
      batch.addAll(e.getValue());
      batchRules.addAll(own);
      batchChains.addAll(chains.get(e.getKey()));
      batchServices.add(e.getKey());
    }
    if (!batch.isEmpty()) {
      builds.add(batch(batch, batchRules, batchChains, batchServices));
    }
    // A rule appended to a new chain without declaring it (the render never writes one) stays in
    // the switch, where the chain then exists.
    for (Map.Entry<ServicePortName, List<Line>> e : rules.entrySet()) {
      if (!decls.containsKey(e.getKey())) {
        rest.addAll(e.getValue());
      }
    }
    List<Table> tables = new ArrayList<>();
    for (Table t : input.tables()) {
      tables.add(t == nat ? new Table(t.name(), t.before(), rest) : t);
    }
    return new Plan(builds, new Ruleset(tables, input.after()), List.copyOf(stale));
  }

  /** The lines of a restore input: each table's lines, its header and COMMIT. */
  static int lines(Ruleset input) {
    int lines = 0;
    for (Table t : input.tables()) {
      lines += t.lines().size() + 2;
    }
    return lines;
  }

  private static Batch batch(
      List<Line> decls, List<Line> rules, List<String> chains, Set<ServicePortName> services) {
    List<Line> lines = new ArrayList<>(decls);
    lines.addAll(rules);
    return new Batch(
        new Ruleset(List.of(new Table("nat", lines))).print(),
        List.copyOf(chains),
        Set.copyOf(services));
  }

  /**
   * Restore inputs that delete {@code chains} from the nat table, none above {@code maxLines}
   * lines: first every chain is flushed, then deleted, so that no chain of the set still references
   * another when it goes, whichever batch each falls in.
   */
  static List<String> deletions(Collection<String> chains, int maxLines) {
    List<String> names = new ArrayList<>(chains);
    List<String> out = new ArrayList<>();
    if (names.isEmpty()) {
      return out;
    }
    int per = Math.max(1, (maxLines - 2) / 2);
    if (names.size() > per) {
      // Flushing is re-declaring.
      for (int i = 0; i < names.size(); i += maxLines - 2) {
        List<Line> lines = new ArrayList<>();
        for (String c : names.subList(i, Math.min(names.size(), i + maxLines - 2))) {
          lines.add(new Line.ChainDecl(c, "-", "[0:0]"));
        }
        out.add(new Ruleset(List.of(new Table("nat", lines))).print());
      }
    }
    for (int i = 0; i < names.size(); i += per) {
      List<String> part = names.subList(i, Math.min(names.size(), i + per));
      List<Line> lines = new ArrayList<>();
      for (String c : part) {
        lines.add(new Line.ChainDecl(c, "-", "[0:0]"));
      }
      for (String c : part) {
        lines.add(new Line.DeleteChain(c));
      }
      out.add(new Ruleset(List.of(new Table("nat", lines))).print());
    }
    return out;
  }
}
