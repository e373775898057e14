package dev.svcproxy.trace.engine;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * Walks one packet through a node as the kernel would: conntrack, the raw, mangle, nat and filter
 * tables of each hook in priority order (for both iptables backends), routing after PREROUTING and
 * OUTPUT, NAT on a connection's first packet only, and every statistic branch with its probability.
 * A pure function of the NodeState and the packet.
 */
public final class Tracer {
  private static final int MAX_DEPTH = 64;

  /** The default bound on the number of outcomes of one trace. */
  public static final int DEFAULT_MAX_OUTCOMES = 1000;

  /**
   * How many outcomes may follow each other before outcomes that differ only in the endpoint fold.
   */
  private final int maxOutcomes;

  /**
   * How many statistic splits one trace follows (four per allowed outcome, so that a service of up
   * to that many endpoints is still enumerated in full before its outcomes fold): past that a split
   * follows its more probable side only, so that the enumeration itself stays bounded.
   */
  private final int maxSplits;

  private int splits;
  private double cutProbability;
  private int cuts;
  private String firstCut;

  private final NodeState node;
  private final Routing routing;
  private final RuleEvaluator eval;
  private final List<TableView> views = new ArrayList<>();
  private final Set<String> warnings = new LinkedHashSet<>();

  /** One table of one backend, with rules indexed by chain. */
  private record TableView(
      String backend, String table, Map<String, List<Rule>> chains, Map<String, String> policies) {}

  public Tracer(NodeState node) {
    this(node, DEFAULT_MAX_OUTCOMES);
  }

  /**
   * A tracer that summarises past {@code maxOutcomes} outcomes: outcomes that differ only in the
   * endpoint fold into one per verdict and path shape.
   */
  public Tracer(NodeState node, int maxOutcomes) {
    if (maxOutcomes < 1) {
      throw new IllegalArgumentException("maxOutcomes must be at least 1, not " + maxOutcomes);
    }
    this.maxOutcomes = maxOutcomes;
    this.maxSplits = (int) Math.min(Integer.MAX_VALUE, 4L * maxOutcomes);
    this.node = node;
    List<String> notes = new ArrayList<>(node.notes());
    this.routing = new Routing(node, notes);
    this.eval = new RuleEvaluator(node, routing);
    int i = 0;
    for (Ruleset rs : node.iptables()) {
      String backend = i++ == 0 ? "" : "legacy ";
      for (Table t : rs.tables()) {
        Map<String, String> policies = new HashMap<>();
        for (Line.ChainDecl c : t.chainDecls()) {
          policies.put(c.name(), c.policy());
        }
        views.add(new TableView(backend, t.name(), t.chains(), policies));
      }
    }
  }

  /** Traces {@code spec}; returns every outcome with its probability. */
  public TraceResult trace(PacketSpec spec) {
    warnings.clear();
    ends.clear();
    splits = 0;
    cutProbability = 0;
    cuts = 0;
    firstCut = null;
    warnings.addAll(node.notes());
    boolean local = spec.src() == null || routing.isLocalAddress(spec.src());
    List<Branch> done = new ArrayList<>();
    List<Outcome> outcomes = new ArrayList<>();
    if (local) {
      traceLocal(spec, done);
    } else {
      traceIncoming(spec, done);
    }
    for (Branch b : done) {
      outcomes.add(outcome(b));
    }
    List<Outcome> merged = fold(merge(outcomes));
    if (cuts > 0) {
      merged.add(notFollowed());
    }
    return new TraceResult(spec, merged, new ArrayList<>(warnings));
  }

  private final Map<Branch, String[]> ends = new HashMap<>();

  private void end(Branch b, String verdict, String delivery, List<Branch> done) {
    ends.put(b, new String[] {verdict, delivery});
    done.add(b);
  }

  private void traceLocal(PacketSpec spec, List<Branch> done) {
    Routing.Decision d = routing.lookup(spec.dst(), spec.src(), "", 0);
    String src = spec.src() != null ? spec.src() : routing.selectSource(d, spec.dst());
    Branch b = new Branch(src, sport(spec), spec.dst(), spec.dport(), spec.proto(), "");
    b.step(
        Step.note("OUTPUT", "packet " + b.tuple() + " " + spec.proto() + " created on this node"));
    b.step(
        Step.note(
            "routing",
            "route to "
                + spec.dst()
                + ": "
                + d.describe()
                + (spec.src() == null ? "; source address chosen: " + src : "")));
    if (!d.usable()) {
      end(b, "DROP", "", done);
      b.step(Step.note("routing", "no route to " + spec.dst() + ": the socket gets an error"));
      return;
    }
    b.outIface = d.local() ? "lo" : d.dev();
    List<Branch> bs =
        hook(
            tracked(hook(List.of(b), "OUTPUT", List.of("raw"), done)),
            "OUTPUT",
            MANGLE_NAT_FILTER,
            done);
    List<Branch> routed = new ArrayList<>();
    for (Branch x : bs) {
      if (!x.dst.equals(x.origDst) || x.mark != 0) {
        Routing.Decision r = routing.lookup(x.dst, x.src, "", x.mark);
        x.step(Step.note("routing", "re-route after OUTPUT (" + x.tuple() + "): " + r.describe()));
        if (!r.usable()) {
          end(x, "DROP", "", done);
          continue;
        }
        x.outIface = r.local() ? "lo" : r.dev();
      }
      if (Cidr.parse("127.0.0.0/8").contains(x.src)
          && !x.outIface.equals("lo")
          && !routeLocalnet(x.outIface)) {
        x.step(
            Step.note(
                "routing",
                "source "
                    + x.src
                    + " is a loopback address leaving "
                    + x.outIface
                    + " with route_localnet=0: dropped as martian"));
        end(x, "DROP", "", done);
        continue;
      }
      routed.add(x);
    }
    List<Branch> out = hook(routed, "POSTROUTING", List.of("mangle", "nat"), done);
    for (Branch x : out) {
      if (x.outIface.equals("lo")) {
        // Looped back: PREROUTING's raw and mangle see it (nat is already decided), then INPUT.
        x.inIface = "lo";
        List<Branch> in = hook(List.of(x), "PREROUTING", List.of("raw", "mangle"), done);
        for (Branch y : hook(in, "INPUT", List.of("mangle", "filter", "nat"), done)) {
          y.step(
              Step.note("INPUT", "delivered to a local socket on " + y.dst + portSuffix(y.dport)));
          end(y, "ACCEPT", "local", done);
        }
      } else {
        x.step(Step.note("POSTROUTING", "sent out " + x.outIface + " as " + x.tuple()));
        end(x, "ACCEPT", "output", done);
      }
    }
  }

  private void traceIncoming(PacketSpec spec, List<Branch> done) {
    String in = spec.inIface();
    if (in.isEmpty()) {
      in = routing.interfaceToward(spec.src());
      warnings.add(
          "no --in-iface: assumed the packet arrives on "
              + in
              + ", the interface the node routes "
              + spec.src()
              + " through");
    }
    Branch b = new Branch(spec.src(), sport(spec), spec.dst(), spec.dport(), spec.proto(), in);
    b.step(
        Step.note("PREROUTING", "packet " + b.tuple() + " " + spec.proto() + " arrives on " + in));
    boolean bridged = isBridged(b);
    List<Branch> pre =
        hook(
            tracked(hook(List.of(b), "PREROUTING", List.of("raw"), done)),
            "PREROUTING",
            List.of("mangle", "nat"),
            done);
    for (Branch x : pre) {
      Routing.Decision d = routing.lookup(x.dst, x.src, x.inIface, x.mark);
      x.step(Step.note("routing", "route to " + x.dst + ": " + d.describe()));
      if (!d.usable()) {
        x.step(Step.note("routing", "no route: the node answers with ICMP unreachable"));
        end(x, "REJECT", "", done);
        continue;
      }
      if (!martianCheck(x, d)) {
        end(x, "DROP", "", done);
        continue;
      }
      if (d.local()) {
        x.outIface = "";
        for (Branch y : hook(List.of(x), "INPUT", List.of("mangle", "filter", "nat"), done)) {
          y.step(
              Step.note("INPUT", "delivered to a local socket on " + y.dst + portSuffix(y.dport)));
          end(y, "ACCEPT", "local", done);
        }
        continue;
      }
      x.outIface = d.dev();
      x.physdevBridged = bridged && d.dev().equals(x.inIface);
      if (!bridged && !x.dnatDone && isBridge(x.inIface) && d.dev().equals(x.inIface)) {
        x.step(
            Step.note(
                "bridge",
                "bridged within "
                    + x.inIface
                    + " with net.bridge.bridge-nf-call-iptables=0: iptables does not see it"));
        end(x, "ACCEPT", "forward", done);
        continue;
      }
      if (!x.physdevBridged && !node.sysctl("net.ipv4.ip_forward", "1").equals("1")) {
        x.step(Step.note("routing", "net.ipv4.ip_forward=0: not forwarded"));
        end(x, "DROP", "", done);
        continue;
      }
      List<Branch> fwd = hook(List.of(x), "FORWARD", List.of("mangle", "filter"), done);
      for (Branch y : hook(fwd, "POSTROUTING", List.of("mangle", "nat"), done)) {
        y.step(Step.note("POSTROUTING", "forwarded out " + y.outIface + " as " + y.tuple()));
        end(y, "ACCEPT", "forward", done);
      }
    }
  }

  private boolean isBridged(Branch b) {
    return isBridge(b.inIface)
        && node.sysctl("net.bridge.bridge-nf-call-iptables", "1").equals("1");
  }

  private boolean isBridge(String iface) {
    return node.interfaces().stream().anyMatch(i -> i.master().equals(iface));
  }

  private static String portSuffix(int port) {
    return port > 0 ? ":" + port : "";
  }

  private static int sport(PacketSpec spec) {
    return spec.sport() > 0 ? spec.sport() : (spec.proto().equals("icmp") ? 0 : 40000);
  }

  private boolean routeLocalnet(String dev) {
    return node.sysctl("net.ipv4.conf.all.route_localnet", "0").equals("1")
        || node.sysctl("net.ipv4.conf." + dev + ".route_localnet", "0").equals("1");
  }

  /** A numeric sysctl, 0 when absent or not a number (said in the warnings). */
  private int sysctlInt(String key) {
    String v = node.sysctl(key, "0").strip();
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      warnings.add(key + " = " + v + " is not a number: assumed 0");
      return 0;
    }
  }

  /** Input-route sanity: loopback destinations from outside, and reverse-path filtering. */
  private boolean martianCheck(Branch x, Routing.Decision d) {
    Cidr loop = Cidr.parse("127.0.0.0/8");
    if ((loop.contains(x.dst) || loop.contains(x.src))
        && !x.inIface.equals("lo")
        && !routeLocalnet(x.inIface)) {
      x.step(
          Step.note(
              "routing",
              "martian: "
                  + (loop.contains(x.dst) ? "destination " + x.dst : "source " + x.src)
                  + " is a loopback address arriving on "
                  + x.inIface
                  + " and route_localnet=0: dropped"));
      return false;
    }
    int rp =
        Math.max(
            sysctlInt("net.ipv4.conf.all.rp_filter"),
            sysctlInt("net.ipv4.conf." + x.inIface + ".rp_filter"));
    if (rp > 0 && !d.local()) {
      Routing.Decision back = routing.lookup(x.src, x.dst, "", x.mark);
      boolean ok = rp == 2 ? back.usable() : back.usable() && back.dev().equals(x.inIface);
      if (!ok) {
        x.step(
            Step.note(
                "routing",
                "rp_filter="
                    + rp
                    + ": the route back to "
                    + x.src
                    + " is "
                    + back.describe()
                    + ", not via "
                    + x.inIface
                    + ": dropped"));
        return false;
      }
    }
    return true;
  }

  private static final List<String> MANGLE_NAT_FILTER = List.of("mangle", "nat", "filter");

  /**
   * The conntrack lookup, after the raw table (raw -300, conntrack -200): a packet raw marked
   * NOTRACK skips it (nf_conntrack_in ignores a packet that already carries the untracked entry),
   * so an existing entry's NAT does not apply to it, and the nat table never sees it either.
   */
  private List<Branch> tracked(List<Branch> afterRaw) {
    for (Branch b : afterRaw) {
      if (b.ctState.equals("UNTRACKED")) {
        b.step(
            Step.note(
                "conntrack",
                "untracked (NOTRACK in raw): no conntrack lookup, so no entry's NAT applies,"
                    + " and nat chains are skipped"));
      } else {
        conntrack(b);
      }
    }
    return afterRaw;
  }

  /** Looks the packet up in the captured conntrack table; NAT then comes from the entry. */
  private void conntrack(Branch b) {
    b.tracked = true;
    for (NodeState.ConntrackEntry e : node.conntrack()) {
      if (!e.proto().equals(b.proto)) {
        continue;
      }
      NodeState.Tuple o = e.original();
      NodeState.Tuple r = e.reply();
      if (o.src().equals(b.src)
          && o.dst().equals(b.dst)
          && o.sport() == b.sport
          && o.dport() == b.dport) {
        b.ctState = e.seenReply() ? "ESTABLISHED" : "NEW";
        b.natDecided = true;
        b.ctMark = e.mark();
        b.step(
            Step.note(
                "conntrack",
                "existing connection ("
                    + (e.seenReply() ? "ESTABLISHED" : "UNREPLIED")
                    + "): reply tuple "
                    + r.src()
                    + ":"
                    + r.sport()
                    + " -> "
                    + r.dst()
                    + ":"
                    + r.dport()
                    + "; its NAT applies, nat chains are skipped"));
        if (!r.src().equals(o.dst()) || r.sport() != o.dport()) {
          b.dst = r.src();
          b.dport = r.sport();
          b.dnatDone = true;
        }
        if (!r.dst().equals(o.src()) || r.dport() != o.sport()) {
          b.snatDone = true;
        }
        b.ctSource = new String[] {r.dst(), Integer.toString(r.dport())};
        return;
      }
      if (r.src().equals(b.src)
          && r.dst().equals(b.dst)
          && r.sport() == b.sport
          && r.dport() == b.dport) {
        b.ctState = "ESTABLISHED";
        b.replyDirection = true;
        b.natDecided = true;
        b.step(
            Step.note(
                "conntrack",
                "reply of connection "
                    + o.src()
                    + ":"
                    + o.sport()
                    + " -> "
                    + o.dst()
                    + ":"
                    + o.dport()
                    + ": de-NATed to "
                    + o.dst()
                    + ":"
                    + o.dport()
                    + " -> "
                    + o.src()
                    + ":"
                    + o.sport()));
        b.dst = o.src();
        b.dport = o.sport();
        b.ctSource = new String[] {o.dst(), Integer.toString(o.dport())};
        return;
      }
    }
    b.step(Step.note("conntrack", "no conntrack entry: state NEW"));
  }

  /** Runs the tables of one hook in priority order, for every backend; returns what got through. */
  private List<Branch> hook(List<Branch> in, String hook, List<String> tables, List<Branch> done) {
    List<Branch> cur = in;
    for (String table : tables) {
      if (table.equals("nat")) {
        cur = natTable(cur, hook, done);
        continue;
      }
      for (TableView v : views) {
        if (v.table().equals(table) && v.chains().containsKey(hook)) {
          cur = runChain(cur, v, hook, done);
        }
      }
    }
    return cur;
  }

  private List<Branch> natTable(List<Branch> in, String hook, List<Branch> done) {
    List<Branch> out = new ArrayList<>();
    for (Branch b : in) {
      if (b.natDecided && !isSrcHook(hook)) {
        out.add(b);
        continue;
      }
      if (b.natDecided && isSrcHook(hook)) {
        // An existing connection's source NAT comes from its entry.
        String[] s = b.ctSource;
        if (s != null && !b.replyDirection && (!s[0].equals(b.src))) {
          b.step(Step.note(hook, "conntrack: source rewritten to " + s[0] + ":" + s[1]));
          b.src = s[0];
          b.sport = Integer.parseInt(s[1]);
        } else if (s != null && b.replyDirection) {
          b.src = s[0];
          b.sport = Integer.parseInt(s[1]);
        }
        out.add(b);
        continue;
      }
      List<Branch> cur = List.of(b);
      for (TableView v : views) {
        if (v.table().equals("nat") && v.chains().containsKey(hook)) {
          cur = runChain(cur, v, hook, done);
        }
      }
      out.addAll(cur);
    }
    out = mergeStates(out);
    if (isSrcHook(hook)) {
      for (Branch b : out) {
        b.natDecided = true;
      }
    }
    return out;
  }

  private static boolean isSrcHook(String hook) {
    return hook.equals("POSTROUTING") || hook.equals("INPUT");
  }

  /** A rule's outcome while walking a chain. */
  private enum Kind {
    ACCEPT,
    DROP,
    REJECT,
    RETURN
  }

  private record Res(Branch branch, Kind kind) {}

  private List<Branch> runChain(List<Branch> in, TableView v, String hook, List<Branch> done) {
    List<Branch> out = new ArrayList<>();
    for (Branch b : in) {
      for (Res r : walk(b, v, hook, hook, 0)) {
        Kind k = r.kind();
        if (k == Kind.RETURN) {
          String policy = v.policies().getOrDefault(hook, "ACCEPT");
          if (!policy.equals("ACCEPT")) {
            r.branch()
                .step(
                    new Step(
                        hook,
                        v.backend() + v.table(),
                        hook,
                        0,
                        ":" + hook + " " + policy,
                        "policy " + policy));
          }
          k = policy.equals("DROP") ? Kind.DROP : Kind.ACCEPT;
        }
        switch (k) {
          case ACCEPT -> out.add(r.branch());
          case DROP -> end(r.branch(), "DROP", "", done);
          case REJECT -> end(r.branch(), "REJECT", "", done);
          default -> {}
        }
      }
    }
    return mergeStates(out);
  }

  /** Branches in the same state go on identically: keep one, with their probabilities added. */
  private static List<Branch> mergeStates(List<Branch> in) {
    if (in.size() < 2) {
      return in;
    }
    Map<Branch.State, Branch> byState = new LinkedHashMap<>();
    for (Branch b : in) {
      Branch prev = byState.putIfAbsent(b.state(), b);
      if (prev != null) {
        prev.absorb(b);
      }
    }
    return new ArrayList<>(byState.values());
  }

  private record ResKey(Kind kind, Branch.State state) {}

  private static List<Res> mergeResults(List<Res> in) {
    if (in.size() < 2) {
      return in;
    }
    Map<ResKey, Res> byState = new LinkedHashMap<>();
    for (Res r : in) {
      Res prev = byState.putIfAbsent(new ResKey(r.kind(), r.branch().state()), r);
      if (prev != null) {
        prev.branch().absorb(r.branch());
      }
    }
    return new ArrayList<>(byState.values());
  }

  /**
   * Queues {@code b} before rule {@code index}, merged with a branch already there in its state.
   */
  private static void push(TreeMap<Integer, Map<Branch.State, Branch>> work, Branch b, int index) {
    Branch prev = work.computeIfAbsent(index, k -> new LinkedHashMap<>()).putIfAbsent(b.state(), b);
    if (prev != null) {
      prev.absorb(b);
    }
  }

  private List<Res> walk(Branch start, TableView v, String hook, String chain, int depth) {
    List<Res> out = new ArrayList<>();
    if (depth > MAX_DEPTH) {
      warnings.add("chain nesting deeper than " + MAX_DEPTH + " at " + chain + ": stopped");
      out.add(new Res(start, Kind.RETURN));
      return out;
    }
    List<Rule> rules = v.chains().getOrDefault(chain, List.of());
    // Branches are walked in rule order, so that paths which reach the same rule in the same state
    // (a statistic rule whose target changed nothing, or set a mark already set) become one: the
    // number of branches grows with the number of distinct states, not of paths.
    TreeMap<Integer, Map<Branch.State, Branch>> work = new TreeMap<>();
    push(work, start, 0);
    while (!work.isEmpty()) {
      Map.Entry<Integer, Map<Branch.State, Branch>> next = work.pollFirstEntry();
      for (Branch b : next.getValue().values()) {
        walkFrom(b, next.getKey(), rules, v, hook, chain, depth, work, out);
      }
    }
    return mergeResults(out);
  }

  private void walkFrom(
      Branch b,
      int from,
      List<Rule> rules,
      TableView v,
      String hook,
      String chain,
      int depth,
      TreeMap<Integer, Map<Branch.State, Branch>> work,
      List<Res> out) {
    boolean finished = false;
    for (int i = from; i < rules.size() && !finished; i++) {
      Rule rule = rules.get(i);
      RuleEvaluator.Verdict verdict = eval.evaluate(rule, b);
      if (verdict.unknown() != null) {
        warnings.add(
            "could not evaluate "
                + verdict.unknown()
                + ": "
                + verdict.reason()
                + ", assumed it does not match ("
                + v.backend()
                + v.table()
                + " "
                + chain
                + " rule "
                + (i + 1)
                + ")");
        b.step(
            new Step(
                hook,
                v.backend() + v.table(),
                chain,
                i + 1,
                rule.print(),
                "could not evaluate "
                    + verdict.unknown()
                    + " ("
                    + verdict.reason()
                    + "): assumed no match"));
        continue;
      }
      double p = verdict.matchProbability();
      if (p == 0) {
        continue;
      }
      if (p < 1) {
        Step at = new Step(hook, v.backend() + v.table(), chain, i + 1, rule.print(), "");
        if (splits >= maxSplits) {
          // Past the budget: follow the more probable side only, and account for the other.
          boolean takeIt = p >= 0.5;
          double lost = b.probability * (takeIt ? 1 - p : p);
          cutProbability += lost;
          if (cuts++ == 0) {
            firstCut = v.backend() + v.table() + " " + chain + " rule " + (i + 1);
          }
          b.probability -= lost;
          if (takeIt) {
            b.step(
                Step.note(
                    hook,
                    String.format(
                        Locale.ROOT,
                        "%s rule %d not taken (p=%.4f): not followed, more than %d branches",
                        chain,
                        i + 1,
                        1 - p,
                        maxSplits)));
          } else {
            b.step(
                stepWith(
                    at,
                    String.format(
                        Locale.ROOT,
                        "not taken (p=%.4f); the taken side (p=%.4f) is not followed: more"
                            + " than %d branches",
                        1 - p,
                        p,
                        maxSplits)));
            continue;
          }
        } else {
          splits++;
          Branch miss = b.copy();
          miss.probability *= 1 - p;
          miss.step(stepWith(at, String.format(Locale.ROOT, "not taken (p=%.4f)", 1 - p)));
          push(work, miss, i + 1);
          b.probability *= p;
        }
      }
      List<Res> r = apply(rule, b, v, hook, chain, i + 1, depth, p < 1 ? p : 1.0);
      for (Res x : r) {
        if (x.kind() == null) {
          // Non-terminal target: keep walking this chain.
          push(work, x.branch(), i + 1);
        } else if (x.kind() == Kind.RETURN && x.branch() != null && isJumpContinuation(rule)) {
          push(work, x.branch(), i + 1);
        } else {
          out.add(x);
        }
      }
      finished = true;
    }
    if (!finished) {
      if (depth > 0) {
        b.step(
            new Step(
                hook,
                v.backend() + v.table(),
                chain,
                0,
                "end of " + chain,
                "no rule matched: return"));
      }
      out.add(new Res(b, Kind.RETURN));
    }
  }

  private static Step stepWith(Step s, String effect) {
    return new Step(s.hook(), s.table(), s.chain(), s.rule(), s.text(), effect);
  }

  private static boolean isJumpContinuation(Rule rule) {
    return rule.jump().map(j -> !j.isGoto() && !j.target().equals("RETURN")).orElse(false);
  }

  /** Where a matched rule sits, to record what its target did to a branch. */
  private record Matched(String hook, String table, String chain, int n, Rule rule, String prob) {
    /** Records the step and ends the rule with {@code kind} (null: continue after the rule). */
    List<Res> result(Branch b, String effect, Kind kind) {
      b.step(new Step(hook, table, chain, n, rule.print(), effect + prob));
      return List.of(new Res(b, kind));
    }
  }

  /**
   * Applies a matched rule's target. Returns results with kind null for "continue after this rule",
   * RETURN for a called chain that returned (continue after a jump) or for RETURN itself.
   */
  private List<Res> apply(
      Rule rule, Branch b, TableView v, String hook, String chain, int n, int depth, double p) {
    Branch before = b.copy();
    try {
      return applyTarget(rule, b, v, hook, chain, n, depth, p);
    } catch (RuntimeException e) {
      // A bad value in a pasted rule (a DNAT address that is not one, a mark "0xZZ"): the trace
      // goes on from the state before the rule, and says what it assumed.
      String reason = RuleEvaluator.reason(e);
      warnings.add(
          "could not apply -j "
              + rule.target()
              + ": "
              + reason
              + ", assumed it lets the packet continue unchanged ("
              + v.backend()
              + v.table()
              + " "
              + chain
              + " rule "
              + n
              + ")");
      before.step(
          new Step(
              hook,
              v.backend() + v.table(),
              chain,
              n,
              rule.print(),
              "could not apply -j " + rule.target() + " (" + reason + "): assumed it continues"));
      return List.of(new Res(before, null));
    }
  }

  private List<Res> applyTarget(
      Rule rule, Branch b, TableView v, String hook, String chain, int n, int depth, double p) {
    String target = rule.target();
    Matched at =
        new Matched(
            hook,
            v.backend() + v.table(),
            chain,
            n,
            rule,
            p < 1 ? String.format(" (p=%.4f)", p) : "");
    switch (target) {
      case "" -> {
        return at.result(b, "matched (no target)", null);
      }
      case "ACCEPT" -> {
        return at.result(b, "ACCEPT", Kind.ACCEPT);
      }
      case "DROP" -> {
        return at.result(b, "DROP", Kind.DROP);
      }
      case "REJECT" -> {
        return at.result(b, "REJECT", Kind.REJECT);
      }
      case "RETURN" -> {
        return at.result(b, "RETURN", Kind.RETURN);
      }
      case "DNAT", "REDIRECT" -> {
        if (target.equals("REDIRECT")) {
          // REDIRECT: the incoming interface's primary address (loopback for local packets).
          String ports = opt(rule, "--to-ports");
          int port = ports == null ? b.dport : RuleEvaluator.port(ports.split("[-:]")[0]);
          b.dst =
              b.inIface.isEmpty() || b.inIface.equals("lo")
                  ? "127.0.0.1"
                  : routing.deviceAddress(b.inIface, b.src);
          b.dport = port;
        } else {
          String[] hp = hostPort(required(rule, "--to-destination"), b.dport);
          b.dst = hp[0];
          b.dport = Integer.parseInt(hp[1]);
        }
        b.dnatDone = true;
        return at.result(b, target + " to " + b.dst + ":" + b.dport, Kind.ACCEPT);
      }
      case "SNAT" -> {
        String[] hp = hostPort(required(rule, "--to-source"), b.sport);
        b.src = hp[0];
        b.sport = Integer.parseInt(hp[1]);
        b.snatDone = true;
        return at.result(b, "SNAT to " + b.src + ":" + b.sport, Kind.ACCEPT);
      }
      case "MASQUERADE" -> {
        Routing.Decision d = routing.lookup(b.dst, null, "", b.mark);
        String src = routing.deviceAddress(b.outIface, d.gateway().isEmpty() ? b.dst : d.gateway());
        if (src.isEmpty()) {
          return at.result(b, "MASQUERADE: " + b.outIface + " has no address: dropped", Kind.DROP);
        }
        b.src = src;
        b.snatDone = true;
        b.masquerade = true;
        return at.result(
            b, "MASQUERADE to " + src + " (primary address of " + b.outIface + ")", Kind.ACCEPT);
      }
      case "MARK" -> {
        b.mark = markOp(rule, b.mark);
        return at.result(b, "mark set to 0x" + Long.toHexString(b.mark), null);
      }
      case "CONNMARK" -> {
        if (rule.option("--restore-mark").isPresent()) {
          b.mark = b.ctMark;
        } else if (rule.option("--save-mark").isPresent()) {
          b.ctMark = b.mark;
        } else {
          b.ctMark = markOp(rule, b.ctMark);
        }
        return at.result(
            b,
            "connmark 0x" + Long.toHexString(b.ctMark) + ", mark 0x" + Long.toHexString(b.mark),
            null);
      }
      case "NOTRACK", "CT" -> {
        if (target.equals("NOTRACK") || rule.option("--notrack").isPresent()) {
          if (b.tracked) {
            // xt_CT leaves a packet alone that already carries a conntrack entry (one looped back
            // after OUTPUT, or a reply).
            return at.result(b, "already tracked: NOTRACK has no effect", null);
          }
          b.ctState = "UNTRACKED";
          b.natDecided = true;
          return at.result(b, "not tracked: nat is skipped", null);
        }
        return at.result(b, "CT", null);
      }
      case "LOG",
          "NFLOG",
          "ULOG",
          "TRACE",
          "AUDIT",
          "NFQUEUE_BYPASS",
          "TCPMSS",
          "CHECKSUM",
          "TOS",
          "DSCP",
          "TTL",
          "CLASSIFY",
          "SET" -> {
        return at.result(b, target + " (packet unchanged)", null);
      }
      default -> {
        if (v.chains().containsKey(target) || v.policies().containsKey(target)) {
          boolean isGoto = rule.jump().map(Arg.Jump::isGoto).orElse(false);
          at.result(b, (isGoto ? "goto " : "jump ") + target, null);
          // Whether a RETURN continues after this rule (jump) or ends this chain too (goto) is
          // decided by the caller from the rule.
          return walk(b, v, hook, target, depth + 1);
        }
        warnings.add(
            "unknown target "
                + target
                + " in "
                + v.table()
                + " "
                + chain
                + " rule "
                + n
                + "; assumed it lets the packet continue");
        return at.result(b, "unknown target " + target + ": assumed to continue", null);
      }
    }
  }

  private static long markOp(Rule rule, long mark) {
    for (Arg.Option o : rule.options(rule.target())) {
      String t = o.text();
      switch (o.flag()) {
        case "--set-xmark" -> {
          String[] f = t.split("/");
          long v = RuleEvaluator.num(f[0]);
          long m = f.length > 1 ? RuleEvaluator.num(f[1]) : 0xFFFFFFFFL;
          return ((mark & ~m) ^ v) & 0xFFFFFFFFL;
        }
        case "--set-mark" -> {
          String[] f = t.split("/");
          long v = RuleEvaluator.num(f[0]);
          long m = f.length > 1 ? RuleEvaluator.num(f[1]) : 0xFFFFFFFFL;
          return ((mark & ~m) | v) & 0xFFFFFFFFL;
        }
        case "--or-mark" -> {
          return mark | RuleEvaluator.num(t);
        }
        case "--and-mark" -> {
          return mark & RuleEvaluator.num(t);
        }
        case "--xor-mark" -> {
          return mark ^ RuleEvaluator.num(t);
        }
        default -> {}
      }
    }
    return mark;
  }

  private static String opt(Rule rule, String flag) {
    return rule.option(flag).map(Arg.Option::text).orElse(null);
  }

  private static String required(Rule rule, String flag) {
    String v = opt(rule, flag);
    if (v == null) {
      throw new IllegalArgumentException("no " + flag);
    }
    return v;
  }

  /**
   * "ip[-ip2][:port[-port2]]" → first ip and port (keeping {@code dflt} when none); both checked,
   * so that a bad value stops here rather than travelling on in the packet.
   */
  private static String[] hostPort(String to, int dflt) {
    String ip = to;
    String port = Integer.toString(dflt);
    int colon = to.lastIndexOf(':');
    if (colon > 0) {
      ip = to.substring(0, colon);
      port = Integer.toString(RuleEvaluator.port(to.substring(colon + 1).split("-")[0]));
    }
    ip = ip.split("-")[0];
    if (!Ip.isIpv4(ip)) {
      throw new IllegalArgumentException("not an IPv4 address: " + ip);
    }
    return new String[] {ip, port};
  }

  private Outcome outcome(Branch b) {
    String[] e = ends.get(b);
    String verdict = e[0];
    String delivery = e[1];
    String dnat = b.dnatDone ? b.dst + ":" + b.dport : null;
    String snat = b.snatDone ? b.src + ":" + b.sport : null;
    Outcome.Reply reply = null;
    if (verdict.equals("ACCEPT")) {
      reply = reply(b, delivery);
      if (reply.returnsHere() && !delivery.equals("local")) {
        reply = walkReply(b, delivery, reply);
      }
    }
    List<Step> steps = b.steps;
    if (b.merged > 0) {
      steps = new ArrayList<>(steps);
      steps.add(
          Step.note(
              "paths",
              b.merged
                  + " other path"
                  + (b.merged == 1 ? "" : "s")
                  + " reached the same packet state and went on identically: merged into this one,"
                  + " probabilities added"));
    }
    return new Outcome(
        b.probability,
        verdict,
        dnat,
        snat,
        b.masquerade,
        delivery,
        b.outIface,
        b.src,
        b.dst + portSuffix(b.dport),
        steps,
        reply);
  }

  /**
   * Walks the reply back through this node: it arrives on the interface the request left by, as an
   * ESTABLISHED packet; conntrack undoes the source NAT before routing and the destination NAT on
   * the way out; nat chains are not consulted.
   */
  private Outcome.Reply walkReply(Branch b, String delivery, Outcome.Reply reply) {
    Branch r = new Branch(b.dst, b.dport, b.src, b.sport, b.proto, b.outIface);
    r.ctState = "ESTABLISHED";
    r.replyDirection = true;
    r.natDecided = true;
    r.tracked = true;
    r.probability = 1.0;
    r.step(
        Step.note(
            "PREROUTING", "reply " + r.tuple() + " arrives on " + r.inIface + " (ESTABLISHED)"));
    List<Branch> done = new ArrayList<>();
    List<Branch> pre = hook(List.of(r), "PREROUTING", List.of("raw", "mangle"), done);
    List<Branch> passed = new ArrayList<>();
    for (Branch x : pre) {
      if (b.snatDone) {
        x.dst = b.origSrc;
        x.dport = b.origSport;
        x.step(
            Step.note(
                "conntrack",
                "reply de-SNATed: destination back to " + x.dst + portSuffix(x.dport)));
      }
      Routing.Decision d = routing.lookup(x.dst, x.src, x.inIface, x.mark);
      x.step(Step.note("routing", "route to " + x.dst + ": " + d.describe()));
      if (!d.usable()) {
        end(x, "DROP", "", done);
        continue;
      }
      List<Branch> through;
      if (d.local()) {
        through = hook(List.of(x), "INPUT", List.of("mangle", "filter"), done);
      } else {
        x.outIface = d.dev();
        through =
            hook(
                hook(List.of(x), "FORWARD", List.of("mangle", "filter"), done),
                "POSTROUTING",
                List.of("mangle"),
                done);
      }
      for (Branch y : through) {
        if (b.dnatDone) {
          y.src = b.origDst;
          y.sport = b.origDport;
          y.step(
              Step.note(
                  "conntrack", "reply de-DNATed: source back to " + y.src + portSuffix(y.sport)));
        }
        y.step(
            Step.note(
                d.local() ? "INPUT" : "POSTROUTING",
                (d.local() ? "reply delivered to the local socket" : "reply sent out " + y.outIface)
                    + " as "
                    + y.tuple()));
        passed.add(y);
      }
    }
    if (!passed.isEmpty()) {
      return reply.withWalk("ACCEPT", passed.get(0).steps);
    }
    Branch dropped = done.isEmpty() ? r : done.get(0);
    String v = ends.containsKey(dropped) ? ends.get(dropped)[0] : "DROP";
    return new Outcome.Reply(
        false,
        reply.seenBySenderFrom(),
        "the reply is "
            + (v.equals("REJECT") ? "rejected" : "dropped")
            + " on its way back through this node",
        v,
        dropped.steps);
  }

  private Outcome.Reply reply(Branch b, String delivery) {
    String seen = b.origDst + portSuffix(b.origDport);
    if (delivery.equals("local")) {
      return new Outcome.Reply(
          true, seen, "answered by this node; conntrack restores " + seen + " as the source");
    }
    if (b.snatDone) {
      return new Outcome.Reply(
          true,
          seen,
          "the reply is addressed to "
              + b.src
              + ", this node; conntrack rewrites it back to "
              + seen);
    }
    if (b.src.equals(b.dst)) {
      return new Outcome.Reply(
          false,
          seen,
          b.dst
              + " receives a packet from its own address (a hairpin without masquerade)"
              + " and drops it as a martian; the connection never completes");
    }
    if (routing.isLocalAddress(b.src)) {
      boolean onOut =
          node.iface(b.outIface)
              .map(i -> i.addresses().stream().anyMatch(a -> a.ip().equals(b.src)))
              .orElse(false);
      boolean direct = routing.lookup(b.dst, null, "", 0).gateway().isEmpty();
      if (!onOut && !direct) {
        return new Outcome.Reply(
            false,
            seen,
            "the packet leaves "
                + b.outIface
                + " with source "
                + b.src
                + ", an address of this node that is not on "
                + b.outIface
                + " (a VIP?): the peer's reply to it does not come back here unless the network routes "
                + b.src
                + " to this node");
      }
      return new Outcome.Reply(
          true, seen, "the reply is addressed to " + b.src + " on " + b.outIface);
    }
    if (b.dnatDone) {
      // The backend answers the client directly. That comes back here when this node is the
      // backend's gateway (backend directly attached), or the client's (the client sits behind
      // another interface of this node); otherwise the reply bypasses the node and its un-DNAT.
      Routing.Decision toBackend = routing.lookup(b.dst, null, "", 0);
      Routing.Decision toClient = routing.lookup(b.src, null, "", 0);
      if (toBackend.gateway().isEmpty() || !toClient.dev().equals(toBackend.dev())) {
        return new Outcome.Reply(
            true,
            seen,
            b.dst
                + " answers "
                + b.src
                + " through this node, which un-DNATs it to come from "
                + seen);
      }
      return new Outcome.Reply(
          false,
          seen,
          "DNAT without SNAT: "
              + b.dst
              + " (via "
              + toBackend.gateway()
              + ") can reach "
              + b.src
              + " without this node, so the reply would come from "
              + b.dst
              + ", not "
              + seen
              + ", and be dropped by the client");
    }
    return new Outcome.Reply(
        true, seen, "forwarded unchanged; the reply follows the network's routes");
  }

  private record OutcomeKey(
      String verdict,
      String dnat,
      String snat,
      String delivery,
      String outInterface,
      List<Step> steps) {}

  /** Outcomes that ended the same way are merged, summing probability, keeping the first path. */
  private static List<Outcome> merge(List<Outcome> in) {
    Map<OutcomeKey, Outcome> out = new LinkedHashMap<>();
    for (Outcome o : in) {
      OutcomeKey key =
          new OutcomeKey(
              o.verdict(), o.dnat(), o.snat(), o.delivery(), o.outInterface(), o.steps());
      Outcome prev = out.get(key);
      if (prev == null) {
        out.put(key, o);
      } else {
        out.put(
            key,
            new Outcome(
                prev.probability() + o.probability(),
                o.verdict(),
                o.dnat(),
                o.snat(),
                o.masquerade(),
                o.delivery(),
                o.outInterface(),
                o.finalSource(),
                o.finalDestination(),
                prev.steps(),
                o.reply()));
      }
    }
    return new ArrayList<>(out.values());
  }

  /** What a summary keeps apart: the verdict and the shape of the path, not the endpoint. */
  private record Shape(
      String verdict,
      String delivery,
      String outInterface,
      boolean dnat,
      String snat,
      boolean masquerade,
      Boolean replyReturns) {}

  /**
   * Past the limit, outcomes that differ only in the endpoint become one summary per verdict and
   * path shape: its total probability, how many outcomes it folds, and the most probable ones by
   * name.
   */
  private List<Outcome> fold(List<Outcome> in) {
    if (in.size() <= maxOutcomes) {
      return in;
    }
    Map<Shape, List<Outcome>> groups = new LinkedHashMap<>();
    for (Outcome o : in) {
      Shape s =
          new Shape(
              o.verdict(),
              o.delivery(),
              o.outInterface(),
              o.dnat() != null,
              o.masquerade() ? "masquerade" : o.snat(),
              o.masquerade(),
              o.reply() == null ? null : o.reply().returnsHere());
      groups.computeIfAbsent(s, k -> new ArrayList<>()).add(o);
    }
    List<Outcome> out = new ArrayList<>();
    int folded = 0;
    int summaries = 0;
    for (List<Outcome> g : groups.values()) {
      if (g.size() == 1) {
        out.add(g.get(0));
        continue;
      }
      folded += g.size();
      summaries++;
      out.add(summary(g));
    }
    warnings.add(
        String.format(
            Locale.ROOT,
            "%d outcomes, more than the limit of %d: %d outcomes that differ only in the endpoint"
                + " are summarised as %d (one per verdict and path shape, with their total"
                + " probability)",
            in.size(),
            maxOutcomes,
            folded,
            summaries));
    return out;
  }

  private static Outcome summary(List<Outcome> g) {
    List<Outcome> byP = new ArrayList<>(g);
    byP.sort((a, b) -> Double.compare(b.probability(), a.probability()));
    double total = 0;
    for (Outcome o : g) {
      total += o.probability();
    }
    StringBuilder names = new StringBuilder();
    for (int i = 0; i < Math.min(5, byP.size()); i++) {
      Outcome o = byP.get(i);
      names
          .append(i == 0 ? "" : ", ")
          .append(o.dnat() != null ? o.dnat() : o.finalDestination())
          .append(String.format(Locale.ROOT, " (p=%.6f)", o.probability()));
    }
    Outcome first = byP.get(0);
    List<Step> steps = new ArrayList<>(first.steps());
    steps.add(
        Step.note(
            "summary",
            String.format(
                Locale.ROOT,
                "%d outcomes like this one, differing only in the endpoint, folded into one with"
                    + " total probability %.6f; the most probable: %s%s",
                g.size(),
                total,
                names,
                g.size() > 5 ? ", ..." : "")));
    boolean sameSnat = g.stream().allMatch(o -> Objects.equals(o.snat(), first.snat()));
    boolean sameSrc = g.stream().allMatch(o -> o.finalSource().equals(first.finalSource()));
    return new Outcome(
        total,
        first.verdict(),
        null,
        sameSnat ? first.snat() : null,
        first.masquerade(),
        first.delivery(),
        first.outInterface(),
        sameSrc ? first.finalSource() : "",
        "",
        steps,
        first.reply(),
        g.size());
  }

  /** The statistic branches not followed past the split budget, as one outcome. */
  private Outcome notFollowed() {
    String text =
        String.format(
            Locale.ROOT,
            "%d statistic branches (total probability %.6f) were not followed: more than %d"
                + " splits; the first at %s",
            cuts,
            cutProbability,
            maxSplits,
            firstCut);
    warnings.add(text);
    return new Outcome(
        cutProbability,
        "UNKNOWN",
        null,
        null,
        false,
        "",
        "",
        "",
        "",
        List.of(Step.note("summary", text)),
        null,
        cuts);
  }
}
