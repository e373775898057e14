package dev.svcproxy.trace.bundle;

import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Line;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the iptables text people paste into a bundle: iptables-save output with or without its
 * table headers (a grepped fragment), `iptables -S`, and `iptables -L -n [-v] [--line-numbers]`
 * listings, in any mix. Where no table is named, each rule's table is inferred from its target and
 * chain, and what was assumed is a warning. Every rule value is checked: a rule with a bad value
 * stays in its place but is never taken, and its file and line are reported.
 */
final class IptablesText {
  /** The rules read and the warnings ("file:line: reason"). */
  record Result(Ruleset ruleset, List<String> warnings) {}

  /** A chain declared by ":NAME POLICY", "-P", "-N" or a listing's "Chain NAME (...)". */
  private record Decl(String name, String policy, String counters, int line) {}

  /** A rule read at {@code line}. */
  private record Read(Rule rule, int line) {}

  /** A run of lines of one table (named, or to be inferred when {@code table} is null). */
  private static final class Block {
    String table;
    String tableReason;
    final List<String> before = new ArrayList<>();
    final List<Decl> decls = new ArrayList<>();
    final List<Read> rules = new ArrayList<>();

    /** Chains declared or appended to, to see a listing start over. */
    final Set<String> chains = new java.util.HashSet<>();

    final int start;
    boolean save;
    boolean sawRuleOrNew;
    boolean warnedNoIfaces;
    boolean warnedNames;

    Block(String table, String reason, int start) {
      this.table = table;
      this.tableReason = reason;
      this.start = start;
    }

    boolean empty() {
      return decls.isEmpty() && rules.isEmpty();
    }
  }

  private static final Set<String> TABLES = Set.of("filter", "nat", "mangle", "raw", "security");
  private static final Set<String> BUILTIN =
      Set.of("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING");
  private static final Pattern CHAIN_HEADER =
      Pattern.compile(
          "^Chain (\\S+) \\((?:policy (\\S+)(?: (\\S+) packets, (\\S+) bytes)?|(\\d+) references)\\)\\s*$");
  private static final Pattern COLUMNS =
      Pattern.compile("^\\s*(num\\s+)?(pkts\\s+bytes\\s+)?target\\s+prot\\s+opt\\s.*$");
  private static final Pattern S_COUNTERS = Pattern.compile("\\s-c\\s+(\\d+)\\s+(\\d+)(?=\\s|$)");

  private final String file;
  private final List<String> warnings = new ArrayList<>();
  private final List<Block> blocks = new ArrayList<>();
  private Block cur;
  private String listChain;
  private boolean listVerbose;
  private boolean listNumbers;
  private boolean listColumns;

  private final Set<String> ipsets;

  /** Listing lines (by number) as iptables-save writes them: rules and chain declarations. */
  private final Map<Integer, String> renditions = new HashMap<>();

  private IptablesText(String file, Set<String> ipsets) {
    this.file = file;
    this.ipsets = ipsets;
  }

  /**
   * Reads {@code text}; {@code commands} maps a line number to the shell command a prompt on that
   * line ran (it may name the table with -t); {@code ipsets} are the sets of the bundle's
   * ipset-save.txt (null without one), to report rules that name a set it does not have.
   */
  static Result read(String text, String file, Map<Integer, String> commands, Set<String> ipsets) {
    IptablesText r = new IptablesText(file, ipsets);
    r.parse(text, commands);
    return new Result(r.assemble(), r.warnings);
  }

  /**
   * The lines of {@code text} that are an `iptables -L` listing's rules and chain headers, each as
   * iptables-save writes it ("-A CHAIN ...", ":CHAIN POLICY [p:b]"), by line number: so a rule read
   * from a listing can be cited at the pasted line it came from. Prompt lines are recognised as the
   * bundle reader does.
   */
  static Map<Integer, String> renditions(String text) {
    String[] lines = text.replace("\r\n", "\n").replace('\r', '\n').split("\n", -1);
    Map<Integer, String> cmds = new HashMap<>();
    for (int i = 0; i < lines.length; i++) {
      String cmd = Prompts.command(lines[i]);
      if (cmd != null) {
        cmds.put(i + 1, cmd);
        lines[i] = "";
      }
    }
    IptablesText r = new IptablesText("", null);
    r.parse(String.join("\n", lines), cmds);
    return r.renditions;
  }

  private void warn(int line, String what) {
    warnings.add(file + ":" + line + ": " + what);
  }

  private Block block(int line) {
    if (cur == null) {
      cur = new Block(null, null, line);
      blocks.add(cur);
    }
    return cur;
  }

  private void endBlock() {
    cur = null;
    listChain = null;
  }

  private void parse(String text, Map<Integer, String> commands) {
    String[] lines = text.split("\n", -1);
    List<String> pendingComments = new ArrayList<>();
    for (int i = 0; i < lines.length; i++) {
      int n = i + 1;
      String line = lines[i];
      String t = line.strip();
      String cmd = commands.get(n);
      if (cmd != null) {
        endBlock();
        String table = tableOf(cmd);
        if (table != null) {
          cur = new Block(table, "the command at line " + n + " names it", n + 1);
          blocks.add(cur);
        }
        continue;
      }
      if (t.isEmpty()) {
        continue;
      }
      if (t.startsWith("#")) {
        if (cur != null && cur.save) {
          continue;
        }
        pendingComments.add(line);
        continue;
      }
      if (t.startsWith("*") && t.length() > 1 && !t.contains(" ")) {
        if (cur != null && cur.save) {
          warn(n, "table " + cur.table + " has no COMMIT (truncated?)");
        }
        endBlock();
        cur = new Block(t.substring(1), null, n);
        cur.save = true;
        if (!TABLES.contains(cur.table)) {
          warn(
              n,
              "unknown table " + cur.table + " (filter, nat, mangle, raw, security): not traced");
        }
        cur.before.addAll(pendingComments);
        pendingComments.clear();
        blocks.add(cur);
        continue;
      }
      if (t.equals("COMMIT")) {
        if (cur == null || !cur.save) {
          warn(n, "COMMIT outside a table, skipped");
        }
        endBlock();
        continue;
      }
      if (t.startsWith("-A ") || t.startsWith("--append ") || t.startsWith("[")) {
        saveRule(t, n);
        continue;
      }
      Matcher h = CHAIN_HEADER.matcher(t);
      if (h.matches()) {
        chainHeader(h, n);
        continue;
      }
      Matcher c = COLUMNS.matcher(line);
      if (c.matches()) {
        listVerbose = c.group(2) != null;
        listNumbers = c.group(1) != null;
        listColumns = true;
        if (!listVerbose && cur != null && !cur.warnedNoIfaces) {
          cur.warnedNoIfaces = true;
          warn(
              n,
              "a listing without -v has no in/out columns: interface matches (-i/-o) are not"
                  + " shown, so rules were read without them and may match more than they do");
        }
        continue;
      }
      if (t.startsWith(":")) {
        String[] f = t.substring(1).split("\\s+");
        if (f.length < 2 || f[0].isEmpty()) {
          warn(n, "bad chain line, skipped: " + t);
        } else {
          block(n).decls.add(new Decl(f[0], f[1], f.length > 2 ? f[2] : null, n));
        }
        continue;
      }
      if (t.startsWith("-P ") || t.startsWith("-N ")) {
        listCommand(t, n);
        continue;
      }
      if (listChain != null) {
        listRule(line, n);
        continue;
      }
      warn(n, "not understood, skipped: " + t);
    }
    if (cur != null && cur.save) {
      int last = lines.length;
      while (last > 1 && lines[last - 1].isBlank()) {
        last--;
      }
      warn(last, "table " + cur.table + " has no COMMIT (truncated?)");
    }
  }

  /** The table a shell command lists: -t NAME, filter for iptables without -t, else null. */
  static String tableOf(String cmd) {
    String[] w = cmd.strip().split("\\s+");
    boolean iptables = false;
    boolean save = false;
    for (int i = 0; i < w.length; i++) {
      if (w[i].equals("|")) {
        break;
      }
      String base = w[i].substring(w[i].lastIndexOf('/') + 1);
      if (base.matches("iptables(-nft|-legacy)?(-save)?")) {
        iptables = true;
        save = base.endsWith("-save");
      } else if (iptables && (w[i].equals("-t") || w[i].equals("--table")) && i + 1 < w.length) {
        return w[i + 1];
      } else if (iptables && w[i].startsWith("-t") && w[i].length() > 2 && !w[i].startsWith("--")) {
        return w[i].substring(2);
      }
    }
    // `iptables -L` and `iptables -S` list the filter table unless told otherwise; the save
    // commands write their own table headers.
    return iptables && !save ? "filter" : null;
  }

  private void chainHeader(Matcher h, int n) {
    listColumns = false;
    String name = h.group(1);
    if (cur == null || cur.save || cur.chains.contains(name) || builtinOutOfOrder(name)) {
      // A chain seen again starts the listing of another table.
      endBlock();
      cur = new Block(null, null, n);
      blocks.add(cur);
    }
    String policy = h.group(2) == null ? "-" : h.group(2);
    String counters = null;
    if (h.group(3) != null) {
      try {
        counters = "[" + ListingRule.count(h.group(3)) + ":" + ListingRule.count(h.group(4)) + "]";
      } catch (NumberFormatException e) {
        warn(n, "bad policy counters: " + h.group(0));
      }
    }
    cur.decls.add(new Decl(name, policy, counters == null ? "[0:0]" : counters, n));
    cur.chains.add(name);
    listChain = name;
    renditions.put(n, ":" + name + " " + policy + " " + (counters == null ? "[0:0]" : counters));
  }

  private static final List<String> HOOK_ORDER =
      List.of("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING");

  /**
   * A listing names a table's built-in chains first, in hook order, then its own chains: a built-in
   * chain after a user chain, or out of that order, starts the listing of another table.
   */
  private boolean builtinOutOfOrder(String name) {
    int at = HOOK_ORDER.indexOf(name);
    if (at < 0) {
      return false;
    }
    for (Decl d : cur.decls) {
      int k = HOOK_ORDER.indexOf(d.name());
      if (k < 0 || k >= at) {
        return true;
      }
    }
    return false;
  }

  private void listCommand(String t, int n) {
    String[] f = t.split("\\s+");
    if (f[0].equals("-P")) {
      if (f.length < 3) {
        warn(n, "bad policy line, skipped: " + t);
        return;
      }
      if (cur != null && (cur.save || cur.sawRuleOrNew || listChain != null)) {
        endBlock();
      }
      String counters = null;
      if (f.length >= 6 && f[3].equals("-c")) {
        counters = "[" + f[4] + ":" + f[5] + "]";
      }
      block(n).decls.add(new Decl(f[1], f[2], counters == null ? "[0:0]" : counters, n));
    } else {
      if (f.length < 2) {
        warn(n, "bad chain line, skipped: " + t);
        return;
      }
      block(n).decls.add(new Decl(f[1], "-", "[0:0]", n));
      cur.sawRuleOrNew = true;
    }
  }

  private void saveRule(String t, int n) {
    String text = t;
    String counters = null;
    Matcher c = S_COUNTERS.matcher(text);
    if (!text.startsWith("[") && text.contains(" -c ") && c.find()) {
      // `iptables -S -v` writes the counters inside the rule.
      counters = "[" + c.group(1) + ":" + c.group(2) + "]";
      text = text.substring(0, c.start()) + text.substring(c.end());
    }
    Rule rule;
    try {
      rule = IptablesCodec.parseRule(text);
    } catch (IllegalArgumentException e) {
      warn(n, e.getMessage() + ", skipped: " + t);
      return;
    }
    if (counters != null) {
      rule = new Rule(rule.chain(), rule.args(), counters);
    }
    Block b = block(n);
    b.sawRuleOrNew = true;
    b.rules.add(new Read(checked(rule, n), n));
    b.chains.add(rule.chain());
  }

  private void listRule(String line, int n) {
    if (!listColumns) {
      // No column header pasted: count the leading numbers (num, pkts, bytes).
      String[] f = line.strip().split("\\s+");
      int k = 0;
      while (k < f.length && k < 3 && f[k].matches("\\d+[KMGTP]?")) {
        k++;
      }
      listNumbers = k == 1 || k == 3;
      listVerbose = k >= 2;
    }
    ListingRule.Converted c;
    try {
      c = ListingRule.convert(line, listChain, listVerbose, listNumbers);
    } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
      warn(n, "not a rule of the listing (" + e.getMessage() + "), skipped: " + line.strip());
      return;
    }
    Rule rule;
    try {
      rule = IptablesCodec.parseRule(c.saveText());
    } catch (IllegalArgumentException e) {
      warn(n, "listing rule not understood (" + e.getMessage() + "), skipped: " + line.strip());
      return;
    }
    rule = new Rule(rule.chain(), rule.args(), c.counters());
    if (c.names() != null) {
      // A listing without -n: names stand where addresses were, and the paste does not say what
      // they resolved to. One warning for the block, not one per rule and column.
      if (!cur.warnedNames) {
        cur.warnedNames = true;
        warn(
            n,
            "listing without -n: names not resolved (\""
                + c.names()
                + "\"); rules naming a host are kept but not evaluated; paste `iptables -L -n -v`");
      }
      rule = RuleValues.unevaluable(rule, List.of(), "\"" + c.names() + "\"");
    }
    if (c.unread() != null) {
      warn(
          n,
          "listing text not understood: \""
              + c.unread()
              + "\"; the rule is kept but not evaluated (assumed not to match)");
      rule = RuleValues.unevaluable(rule, List.of(), "\"" + c.unread() + "\"");
    }
    renditions.put(n, c.saveText());
    cur.rules.add(new Read(checked(rule, n), n));
    cur.chains.add(rule.chain());
  }

  private Rule checked(Rule rule, int n) {
    if (ipsets != null) {
      for (Arg.Option o : rule.options("set")) {
        String set = o.text().split("\\s+")[0];
        if (o.flag().equals("--match-set") && !ipsets.contains(set)) {
          warn(n, "set " + set + " is not in ipset-save.txt (chain " + rule.chain() + ")");
        }
      }
    }
    List<RuleValues.Problem> bad = RuleValues.check(rule);
    if (bad.isEmpty()) {
      return rule;
    }
    List<Arg> args = new ArrayList<>();
    List<String> what = new ArrayList<>();
    for (RuleValues.Problem p : bad) {
      warn(
          n,
          p.reason()
              + " in \""
              + p.written()
              + "\" (chain "
              + rule.chain()
              + "); the rule is kept but not evaluated (assumed not to match)");
      args.addAll(p.args());
      what.add(p.written());
    }
    return RuleValues.unevaluable(rule, args, String.join(" ", what));
  }

  // ---------------------------------------------------------------------------------------------
  // Assembly: blocks into tables, inferring tables where none was named.

  private static final Set<String> NAT_TARGETS =
      Set.of("DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP");
  private static final Set<String> MANGLE_TARGETS =
      Set.of("TCPMSS", "CHECKSUM", "TOS", "TTL", "DSCP", "TPROXY", "CLASSIFY", "HMARK", "ECN");
  private static final Map<String, String> KNOWN_CHAINS = knownChains();

  private static Map<String, String> knownChains() {
    Map<String, String> m = new HashMap<>();
    for (String c :
        List.of(
            "KUBE-SERVICES",
            "KUBE-NODEPORTS",
            "KUBE-POSTROUTING",
            "KUBE-MARK-MASQ",
            "KUBE-MARK-DROP",
            "DOCKER",
            "FLANNEL-POSTRTG",
            "cali-nat-outgoing",
            "cali-fip-dnat",
            "cali-fip-snat")) {
      m.put(c, "nat");
    }
    for (String c :
        List.of(
            "KUBE-FIREWALL",
            "KUBE-FORWARD",
            "KUBE-EXTERNAL-SERVICES",
            "KUBE-PROXY-FIREWALL",
            "KUBE-KUBELET-CANARY",
            "DOCKER-USER",
            "DOCKER-FORWARD",
            "DOCKER-ISOLATION-STAGE-1",
            "DOCKER-ISOLATION-STAGE-2",
            "FLANNEL-FWD",
            "cali-FORWARD",
            "cali-INPUT",
            "cali-wl-to-host",
            "cali-from-hep-forward",
            "cali-to-hep-forward",
            "cali-from-host-endpoint",
            "cali-to-host-endpoint",
            "cali-cidr-block")) {
      m.put(c, "filter");
    }
    return m;
  }

  private static String knownChain(String chain) {
    String t = KNOWN_CHAINS.get(chain);
    if (t != null) {
      return t;
    }
    for (String p : List.of("KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FW-")) {
      if (chain.startsWith(p)) {
        return "nat";
      }
    }
    for (String p :
        List.of(
            "cali-fw-",
            "cali-tw-",
            "cali-pri-",
            "cali-pro-",
            "cali-po-",
            "cali-pi-",
            "cali-from-wl-",
            "cali-to-wl-")) {
      if (chain.startsWith(p)) {
        return "filter";
      }
    }
    return null;
  }

  /** A table for a block from the built-in chains it declares (a whole listing of one table). */
  private static String fromBuiltins(Block b) {
    Set<String> have = new java.util.HashSet<>();
    b.decls.forEach(d -> have.add(d.name()));
    boolean pre = have.contains("PREROUTING");
    boolean post = have.contains("POSTROUTING");
    boolean fwd = have.contains("FORWARD");
    boolean in = have.contains("INPUT");
    boolean out = have.contains("OUTPUT");
    if (fwd && (pre || post)) {
      return "mangle";
    }
    if (fwd) {
      return "filter";
    }
    if (post || (pre && in)) {
      return "nat";
    }
    if (pre && out) {
      return "raw";
    }
    return null;
  }

  /** The table a rule of an unnamed table belongs to, with why; null table when undecided. */
  private static String[] byRule(Rule r) {
    String target = r.target();
    String chain = r.chain();
    boolean builtin = BUILTIN.contains(chain);
    if (NAT_TARGETS.contains(target)) {
      return new String[] {"nat", target + " target"};
    }
    if (target.equals("REJECT") || target.equals("DROP") || target.equals("ACCEPT")) {
      return new String[] {"filter", target + " target"};
    }
    if (target.equals("NOTRACK") || target.equals("CT")) {
      return new String[] {"raw", target + " target"};
    }
    if (MANGLE_TARGETS.contains(target)) {
      return new String[] {"mangle", target + " target"};
    }
    if ((target.equals("MARK") || target.equals("CONNMARK")) && builtin) {
      return new String[] {"mangle", target + " in built-in chain " + chain};
    }
    if (builtin && !r.options("conntrack").isEmpty() && !chain.endsWith("ROUTING")) {
      return new String[] {"filter", "a conntrack state match in " + chain};
    }
    if (target.equals("KUBE-MARK-DROP") || target.equals("KUBE-MARK-MASQ")) {
      // A jump stays in its table, and kube-proxy and kubelet create these two only in nat: the
      // jump names the table before the chain's name does. KUBE-FIREWALL is filter's in iptables
      // mode (it DROPs marked packets) but nat's in IPVS mode (it jumps to KUBE-MARK-DROP).
      return new String[] {"nat", "jumps to " + target + ", a nat chain of kube-proxy"};
    }
    String known = knownChain(chain);
    if (known != null) {
      return new String[] {known, "chain " + chain + " is " + known + "'s"};
    }
    String targetTable = knownChain(target);
    if (targetTable != null) {
      return new String[] {targetTable, "jumps to " + target + " (" + targetTable + ")"};
    }
    if (chain.equals("FORWARD") || chain.equals("INPUT")) {
      return new String[] {"filter", chain + " is a filter chain"};
    }
    if (chain.equals("PREROUTING") || chain.equals("POSTROUTING")) {
      return new String[] {"nat", chain + " taken as nat's"};
    }
    return new String[] {null, null};
  }

  private Ruleset assemble() {
    Map<String, List<Line>> tables = new LinkedHashMap<>();
    Map<String, List<String>> before = new LinkedHashMap<>();
    Map<String, Map<String, Line.ChainDecl>> decls = new LinkedHashMap<>();
    for (Block b : blocks) {
      if (b.empty()) {
        continue;
      }
      if (b.table == null) {
        String t = fromBuiltins(b);
        if (t != null) {
          b.table = t;
          warn(
              b.start,
              "no table named (no *table line or -t): read as "
                  + t
                  + ", the table with these built-in chains");
        }
      }
      List<String[]> placed = new ArrayList<>();
      if (b.table != null) {
        for (Read r : b.rules) {
          placed.add(new String[] {b.table, null});
        }
      } else {
        placed = infer(b);
      }
      for (int i = 0; i < b.rules.size(); i++) {
        String t = placed.get(i)[0];
        tables
            .computeIfAbsent(t, k -> new ArrayList<>())
            .add(new Line.RuleLine(b.rules.get(i).rule()));
      }
      Map<String, String> firstPlaced = new HashMap<>();
      for (int i = 0; i < b.rules.size(); i++) {
        firstPlaced.putIfAbsent(b.rules.get(i).rule().chain(), placed.get(i)[0]);
      }
      for (Decl d : b.decls) {
        String t = b.table;
        if (t == null) {
          t = tableOfChain(d.name(), firstPlaced);
        }
        tables.computeIfAbsent(t, k -> new ArrayList<>());
        decls
            .computeIfAbsent(t, k -> new LinkedHashMap<>())
            .put(d.name(), new Line.ChainDecl(d.name(), d.policy(), d.counters()));
      }
      if (b.table != null) {
        before.computeIfAbsent(b.table, k -> new ArrayList<>()).addAll(b.before);
      }
    }
    List<Table> out = new ArrayList<>();
    for (Map.Entry<String, List<Line>> e : tables.entrySet()) {
      List<Line> lines = new ArrayList<>(decls.getOrDefault(e.getKey(), Map.of()).values());
      lines.addAll(e.getValue());
      out.add(new Table(e.getKey(), before.getOrDefault(e.getKey(), List.of()), lines));
    }
    return new Ruleset(out);
  }

  private static String tableOfChain(String chain, Map<String, String> firstPlaced) {
    String t = firstPlaced.get(chain);
    if (t != null) {
      return t;
    }
    String k = knownChain(chain);
    return k != null ? k : "nat";
  }

  /** Per-rule inference for a block without a table; warns once per chain and table. */
  private List<String[]> infer(Block b) {
    List<String[]> placed = new ArrayList<>();
    Map<String, Map<String, Integer>> votes = new HashMap<>();
    for (Read r : b.rules) {
      String[] t = byRule(r.rule());
      placed.add(t);
      if (t[0] != null) {
        votes.computeIfAbsent(r.rule().chain(), k -> new HashMap<>()).merge(t[0], 1, Integer::sum);
      }
    }
    for (int i = 0; i < b.rules.size(); i++) {
      if (placed.get(i)[0] != null) {
        continue;
      }
      Rule r = b.rules.get(i).rule();
      String target = r.target();
      String viaTarget = majority(votes.get(target));
      String viaChain = majority(votes.get(r.chain()));
      if (viaTarget != null) {
        placed.set(i, new String[] {viaTarget, "jumps to " + target + " (" + viaTarget + ")"});
      } else if (viaChain != null) {
        placed.set(i, new String[] {viaChain, "the other rules of " + r.chain()});
      } else {
        placed.set(i, new String[] {"nat", "assumed nat, as for a grepped KUBE fragment"});
      }
    }
    Map<String, Integer> firstLine = new LinkedHashMap<>();
    Map<String, Integer> count = new HashMap<>();
    Map<String, String> why = new HashMap<>();
    for (int i = 0; i < b.rules.size(); i++) {
      String key = b.rules.get(i).rule().chain() + " " + placed.get(i)[0];
      firstLine.putIfAbsent(key, b.rules.get(i).line());
      why.putIfAbsent(key, placed.get(i)[1]);
      count.merge(key, 1, Integer::sum);
    }
    firstLine.forEach(
        (key, line) -> {
          String[] f = key.split(" ");
          warn(
              line,
              "no table named: "
                  + count.get(key)
                  + " rule(s) of chain "
                  + f[0]
                  + " read as table "
                  + f[1]
                  + " ("
                  + why.get(key)
                  + ")");
        });
    return placed;
  }

  private static String majority(Map<String, Integer> v) {
    if (v == null || v.isEmpty()) {
      return null;
    }
    return v.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
  }
}
