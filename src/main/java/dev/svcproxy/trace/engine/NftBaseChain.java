package dev.svcproxy.trace.engine;

import dev.svcproxy.nftables.ruleset.Ruleset;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.Verdict;
import dev.svcproxy.trace.engine.ChainWalker.Kind;
import dev.svcproxy.trace.engine.ChainWalker.Res;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * One nftables base chain of a table that sees IPv4 (family ip or inet), run at its hook and
 * priority among the iptables tables. A chain of type nat is consulted, as nf_nat consults every
 * nat chain, only for a connection's first packet and only until one of them made this hook's
 * binding.
 */
record NftBaseChain(Ruleset.Table table, Ruleset.Chain chain, Hook hook, int priority)
    implements HookParticipant {

  /** The tables iptables-nft writes (family ip); iptables-save.txt holds their rules. */
  private static final Set<String> XTABLES = Set.of("filter", "nat", "mangle", "raw", "security");

  /**
   * Base chains of every table of family ip or inet, except tables iptables-nft owns: an ip table
   * named filter, nat, mangle, raw or security is iptables-nft's when iptables-save.txt (the
   * iptables-nft backend's dump) holds that table, or when its rules use xt expressions (which only
   * iptables-nft writes). Those are evaluated once, from iptables-save.txt. What is left out is
   * said in {@code notes}.
   */
  static List<HookParticipant> participants(NodeState node, List<String> notes) {
    List<HookParticipant> out = new ArrayList<>();
    Set<String> saved = new java.util.HashSet<>();
    if (!node.iptables().isEmpty()) {
      node.iptables().get(0).tables().forEach(t -> saved.add(t.name()));
    }
    for (Ruleset.Table t : node.nftables().tables()) {
      if (!t.family().equals("ip") && !t.family().equals("inet")) {
        notes.add(
            "nft table "
                + t.label()
                + " not evaluated: family "
                + t.family()
                + " does not see the IPv4 packets the tracer follows");
        continue;
      }
      if (t.family().equals("ip") && XTABLES.contains(t.name())) {
        boolean xt = usesXt(t);
        if (xt || saved.contains(t.name())) {
          notes.add(
              "nft table "
                  + t.label()
                  + " is iptables-nft's ("
                  + (saved.contains(t.name()) ? "iptables-save.txt holds it" : "its rules use xt")
                  + "): evaluated once, from iptables-save.txt");
          continue;
        }
      }
      for (Ruleset.Chain c : t.chains()) {
        if (!c.isBase()) {
          continue;
        }
        Hook h = hookOf(c.hook());
        if (h == null) {
          notes.add(
              "nft chain "
                  + t.label()
                  + " "
                  + c.name()
                  + " not evaluated: hook "
                  + c.hook()
                  + " is outside the IPv4 path the tracer follows");
          continue;
        }
        out.add(new NftBaseChain(t, c, h, c.priority()));
      }
    }
    // The kernel (nf_hook_entries_grow) inserts a new hook before those of equal priority: of two
    // base chains at one hook and priority, the one registered later runs first. Handles grow as
    // tables and chains are created, so the later table, and in one table the later chain, goes
    // first (HookWalker's sort by priority is stable). Chains added to an older table after a
    // newer table was made are the one order the handles do not show.
    out.sort(
        java.util.Comparator.comparingLong((HookParticipant p) -> ((NftBaseChain) p).table.handle())
            .thenComparingLong(p -> ((NftBaseChain) p).chain.handle())
            .reversed());
    return out;
  }

  private static boolean usesXt(Ruleset.Table t) {
    return t.chains().stream()
        .flatMap(c -> c.rules().stream())
        .flatMap(r -> r.statements().stream())
        .anyMatch(
            s ->
                s instanceof dev.svcproxy.nftables.ruleset.Stmt.Unknown u && u.kind().equals("xt"));
  }

  private static Hook hookOf(String hook) {
    return switch (hook) {
      case "prerouting" -> Hook.PREROUTING;
      case "input" -> Hook.INPUT;
      case "forward" -> Hook.FORWARD;
      case "output" -> Hook.OUTPUT;
      case "postrouting" -> Hook.POSTROUTING;
      default -> null;
    };
  }

  @Override
  public String name() {
    return "nft " + table.label() + " " + chain.name();
  }

  private boolean nat() {
    return "nat".equals(chain.type());
  }

  private boolean destinationHook() {
    return hook == Hook.PREROUTING || hook == Hook.OUTPUT;
  }

  @Override
  public List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done) {
    List<Branch> out = new ArrayList<>();
    NftWalker walker = new NftWalker(table, hook.name(), run);
    for (Branch b : in) {
      if (nat()
          && (b.natDecided || b.ipvsForwarded || (destinationHook() ? b.dnatDone : b.snatDone))) {
        out.add(b);
        continue;
      }
      for (Res r : walker.walk(b, chain, 0, null)) {
        Kind k = r.kind();
        Branch x = r.branch();
        if (k == Kind.RETURN) {
          if ("drop".equals(chain.policy())) {
            x.step(
                new Step(
                    StepKind.POLICY,
                    hook.name(),
                    walker.label(),
                    chain.name(),
                    0,
                    "policy drop",
                    "policy drop",
                    ReasonCode.POLICY_DROP));
            k = Kind.DROP;
          } else {
            k = Kind.ACCEPT;
          }
        }
        switch (k) {
          case ACCEPT -> out.add(x);
          case DROP -> run.end(x, Verdict.DROP, lastReason(x, ReasonCode.DROPPED_BY_RULE), done);
          case REJECT -> run.end(x, Verdict.REJECT, lastReason(x, ReasonCode.REJECTED), done);
          default -> {}
        }
      }
    }
    return ChainWalker.mergeStates(out);
  }

  private static ReasonCode lastReason(Branch b, ReasonCode dflt) {
    ReasonCode last = b.steps.isEmpty() ? null : b.steps.get(b.steps.size() - 1).reasonCode();
    return last != null ? last : dflt;
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "%s at %s %d", name(), hook, priority);
  }
}
