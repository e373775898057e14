package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.BundleFiles;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Prompt;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.trace.bundle.Prompts;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What the input shows whole, for the checks that conclude from the absence of something (a rule, a
 * chain, a set, a route, an address): a live node and a captured bundle show everything; pasted
 * output shows what its command printed, and only that. An iptables file shows a table whole when
 * it holds the table's save section ({@code *nat ... COMMIT}) or an unfiltered listing of the whole
 * table ({@code iptables -t nat -L -n -v}, {@code iptables -S}), and a chain whole when it is
 * listed with its header ({@code iptables -L CHAIN}) or a {@code grep WORD} kept every line of it
 * (its name holds WORD); a grepped fragment shows no table whole. Other files are whole unless
 * their command filtered its output ({@code ip route | grep cni0}, {@code ipset save ONE-SET},
 * {@code ipvsadm -Ln -t VIP:PORT}).
 */
final class InputCoverage {
  private static final Set<String> BUILTIN =
      Set.of("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING");
  private static final List<String> HOOK_ORDER =
      List.of("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING");

  /** Targets that are not chains (iptables' own and its extensions'). */
  private static final Set<String> TARGETS =
      Set.of(
          "ACCEPT",
          "DROP",
          "REJECT",
          "RETURN",
          "QUEUE",
          "NFQUEUE",
          "LOG",
          "NFLOG",
          "ULOG",
          "MARK",
          "CONNMARK",
          "MASQUERADE",
          "SNAT",
          "DNAT",
          "REDIRECT",
          "NETMAP",
          "NOTRACK",
          "CT",
          "TCPMSS",
          "CHECKSUM",
          "TOS",
          "TTL",
          "DSCP",
          "TPROXY",
          "CLASSIFY",
          "HMARK",
          "ECN",
          "SET",
          "AUDIT",
          "TRACE",
          "CONNSECMARK",
          "SECMARK",
          "IDLETIMER",
          "LED",
          "RATEEST",
          "TEE",
          "SYNPROXY",
          "CLUSTERIP");

  /** The tables and chains one iptables file shows whole. */
  private static final class Shown {
    boolean everything;
    final Set<String> tables = new HashSet<>();
    final Map<String, Set<String>> chains = new HashMap<>();

    /** Chains listed whole whose table the text does not name. */
    final Set<String> anyTable = new HashSet<>();

    /**
     * Save sections ({@code *nat}) pasted whole but for their COMMIT line: not filtered, nothing
     * cut around them (no rule outside a section anywhere in the file).
     */
    final Set<String> uncut = new HashSet<>();

    /**
     * Per table, the chains of a save section without COMMIT that are whole all the same because
     * the section goes on to the last chain it declares (see {@link Section}).
     */
    final Map<String, Set<String>> beforeLast = new HashMap<>();

    /** How the text falls short of a whole dump, for the assumptions ("a grepped fragment"). */
    String partial = "";

    void chain(String table, String chain) {
      if (table == null) {
        anyTable.add(chain);
      } else {
        chains.computeIfAbsent(table, k -> new HashSet<>()).add(chain);
      }
    }
  }

  private final DoctorContext ctx;
  private final Map<String, Shown> shown = new HashMap<>();

  private InputCoverage(DoctorContext ctx) {
    this.ctx = ctx;
  }

  static InputCoverage of(DoctorContext ctx) {
    return new InputCoverage(ctx);
  }

  // ------------------------------------------------------------------------------ iptables

  /** Whether every chain and rule of {@code table} in {@code file} is in the input. */
  boolean table(String file, String table) {
    Shown s = shown(file);
    return s != null && (s.everything || s.tables.contains(table));
  }

  /**
   * {@link #table(String, String)}, or, when {@code uncut}, also a pasted save section of the table
   * that simply ends without COMMIT (the way a save is often pasted: seed 000's author did),
   * neither filtered (its command has no pipe) nor cut around (no rule line outside a section in
   * the file): that it is whole is then recorded as assumed. Only checks that opt in take it so.
   */
  boolean table(String file, String table, boolean uncut) {
    if (file == null) {
      return false;
    }
    if (table(file, table)) {
      return true;
    }
    Shown s = shown(file);
    if (!uncut || s == null || !ctx.files().isPasted(file) || !s.uncut.contains(table)) {
      return false;
    }
    ctx.assume(
        "the pasted *"
            + table
            + " section ends without COMMIT: assumed it shows the whole "
            + table
            + " table (nothing grepped or cut from it)");
    return true;
  }

  /** Whether every rule of {@code chain} (table {@code table}) in {@code file} is in the input. */
  boolean chain(String file, String table, String chain) {
    Shown s = shown(file);
    return s != null
        && (s.everything
            || s.tables.contains(table)
            || s.chains.getOrDefault(table, Set.of()).contains(chain)
            || s.anyTable.contains(chain));
  }

  /**
   * The chains a packet entering {@code root} of {@code tableLabel} ("nat", "legacy filter") may
   * walk (root included, through jumps and gotos) that the input does not show whole: the rules the
   * tracer takes for empty there are only unseen. Empty when everything is shown.
   */
  List<String> unshownFrom(String tableLabel, String root) {
    String file = NodeNetwork.file(ctx.files(), tableLabel);
    String bare = NodeNetwork.bareTable(tableLabel);
    Optional<Table> t = NodeNetwork.table(ctx.node(), tableLabel);
    List<String> out = new ArrayList<>();
    Set<String> seen = new LinkedHashSet<>();
    List<String> todo = new ArrayList<>(List.of(root));
    while (!todo.isEmpty()) {
      String c = todo.remove(0);
      if (!seen.add(c)) {
        continue;
      }
      if (!chain(file, bare, c)) {
        out.add(c);
      }
      if (t.isEmpty()) {
        continue;
      }
      for (Rule r : t.get().rules(c)) {
        String target = r.target();
        if (!target.isEmpty()
            && (t.get().chainDecl(target).isPresent() || !TARGETS.contains(target))) {
          todo.add(target);
        }
      }
    }
    return out;
  }

  /** The bundle file behind a nat/filter table of the node model (found by identity). */
  String fileOf(Table table) {
    List<Ruleset> sets = ctx.node().iptables();
    for (int i = 0; i < sets.size(); i++) {
      for (Table t : sets.get(i).tables()) {
        if (t == table) {
          return NodeNetwork.file(ctx.files(), i == 0 ? t.name() : "legacy " + t.name());
        }
      }
    }
    return NodeNetwork.file(ctx.files(), table.name());
  }

  /** How {@code file}'s iptables text falls short of a whole dump, or "" when it does not. */
  String partial(String file) {
    Shown s = shown(file);
    if (s == null) {
      return "no " + file;
    }
    return s.everything ? "" : s.partial;
  }

  private Shown shown(String file) {
    if (!ctx.files().has(file)) {
      return null;
    }
    return shown.computeIfAbsent(file, f -> analyse(ctx.files(), f));
  }

  /** A run of `iptables -L` chain listings or `iptables -S` lines of one table. */
  private static final class Listing {
    final Prompt cmd;
    final boolean firstAfterPrompt;
    final List<String> chains = new ArrayList<>();

    Listing(Prompt cmd, boolean first) {
      this.cmd = cmd;
      this.firstAfterPrompt = first;
    }
  }

  private static Shown analyse(BundleFiles files, String file) {
    Shown s = new Shown();
    if (files.isLive()) {
      s.everything = true;
      return s;
    }
    String[] lines = files.text(file).orElse("").split("\n", -1);
    boolean anyPrompt = false;
    boolean anySection = false;
    boolean fragment = false;
    Prompt cmd = null;
    boolean fresh = false;
    String section = null;
    Listing listing = null;
    boolean listingIsSpec = false;
    Section order = new Section();
    for (String line : lines) {
      String t = line.strip();
      String c = Prompts.command(line);
      if (c != null) {
        close(s, listing, listingIsSpec);
        endUncut(s, section, cmd, order);
        listing = null;
        section = null;
        cmd = Prompt.parse(c);
        fresh = true;
        anyPrompt = true;
        continue;
      }
      if (t.isEmpty() || t.startsWith("#")) {
        continue;
      }
      if (t.startsWith("*") && t.length() > 1 && !t.contains(" ")) {
        close(s, listing, listingIsSpec);
        endUncut(s, section, cmd, order);
        listing = null;
        section = t.substring(1);
        order = new Section();
        anySection = true;
        continue;
      }
      if (t.equals("COMMIT")) {
        if (section != null && (cmd == null || !cmd.piped())) {
          s.tables.add(section);
          if (cmd != null && cmd.save() && cmd.table() == null) {
            s.everything = true;
          }
        }
        section = null;
        continue;
      }
      String[] f = t.split("\\s+");
      if (section != null) {
        if (t.startsWith(":") && f[0].length() > 1) {
          order.declare(f[0].substring(1));
        } else if (t.startsWith("-A ") && f.length > 1) {
          order.rule(f[1]);
        }
        if (cmd != null && cmd.piped()) {
          String name = t.startsWith(":") ? f[0].substring(1) : f.length > 1 ? f[1] : "";
          if (cmd.grepKeeps(name)) {
            s.chain(section, name);
          }
        }
        continue;
      }
      if (t.startsWith("Chain ") && t.contains(" (")) {
        String name = f[1];
        if (listing == null
            || listingIsSpec
            || listing.chains.contains(name)
            || builtinOutOfOrder(listing.chains, name)) {
          close(s, listing, listingIsSpec);
          listing = new Listing(cmd, fresh);
          listingIsSpec = false;
          fresh = false;
        }
        listing.chains.add(name);
        continue;
      }
      if (t.startsWith("-P ") && f.length >= 3) {
        if (listing == null || !listingIsSpec || listing.chains.contains(f[1])) {
          close(s, listing, listingIsSpec);
          listing = new Listing(cmd, fresh);
          listingIsSpec = true;
          fresh = false;
        }
        listing.chains.add(f[1]);
        continue;
      }
      if (t.startsWith("-N ") && f.length >= 2) {
        if ((listing == null || !listingIsSpec)
            && cmd != null
            && cmd.iptables()
            && !cmd.save()
            && !cmd.piped()) {
          // `iptables -S CHAIN` of a chain of its own starts with -N.
          close(s, listing, listingIsSpec);
          listing = new Listing(cmd, fresh);
          listingIsSpec = true;
          fresh = false;
        }
        if (listing != null && listingIsSpec) {
          listing.chains.add(f[1]);
        } else if (cmd != null && cmd.grepKeeps(f[1])) {
          s.chain(cmd.table(), f[1]);
        }
        continue;
      }
      boolean rule =
          t.startsWith("-A ") || t.startsWith("--append ") || t.matches("^\\[\\d+:\\d+\\] -A .*");
      if (rule || t.startsWith(":")) {
        if (listing != null && listingIsSpec) {
          if (t.startsWith("-A ") && f.length > 1 && !listing.chains.contains(f[1])) {
            listing.chains.add(f[1]); // `iptables -S CHAIN` of a built-in shows no -N
          }
          continue;
        }
        // A save or -S line outside its table section: a grepped (or cut) fragment.
        fragment = true;
        String name = t.startsWith(":") ? f[0].substring(1) : rule ? chainOf(f) : "";
        if (cmd != null && cmd.grepKeeps(name)) {
          s.chain(cmd.save() ? null : cmd.table(), name);
        }
      }
    }
    close(s, listing, listingIsSpec);
    endUncut(s, section, cmd, order);
    if (fragment) {
      s.uncut.clear(); // rules beside the sections: the text was cut or grepped
    } else {
      s.beforeLast.forEach((table, chains) -> chains.forEach(c -> s.chain(table, c)));
    }
    if (!files.isPasted(file) && anySection && !anyPrompt) {
      s.everything = true; // a bundle's iptables-save.txt: the whole dump, as captured
    }
    String cut = null;
    if (section != null && s.everything) {
      // A captured file whose last table has no COMMIT was cut (iptables-save ends each table
      // with one): the tables committed before it are whole, that one is not.
      s.everything = false;
      cut =
          "table "
              + section
              + " has no COMMIT (the file was cut), so a rule or chain it lacks may only be"
              + " unshown";
    }
    if (cut != null) {
      s.partial = cut;
    } else if (fragment) {
      s.partial =
          "a fragment without its table sections (grepped or cut), so a rule or chain it lacks"
              + " may only be unshown";
    } else if (!s.everything) {
      s.partial = "only some tables or chains were given";
    }
    return s;
  }

  /** A save section still open where the text moves on (no COMMIT), under no pipe. */
  private static void endUncut(Shown s, String section, Prompt cmd, Section order) {
    if (section != null && (cmd == null || !cmd.piped())) {
      s.uncut.add(section);
      Set<String> whole = order.wholeBeforeLast();
      if (!whole.isEmpty()) {
        s.beforeLast.computeIfAbsent(section, k -> new HashSet<>()).addAll(whole);
      }
    }
  }

  /**
   * The declarations and rule order of one save section. iptables-save (legacy and nft) prints a
   * table's chain declarations first (":NAME POLICY [p:b]"), then every chain's rules, chain by
   * chain in the order it declared them, all rules of a chain together. So when a section ends
   * without COMMIT but holds a rule of the last chain it declares, and its rules came in that
   * order, the text went past every earlier chain's last rule: those chains are whole (a chain
   * without rules prints none). The last chain may be cut, and is not counted.
   */
  private static final class Section {
    final List<String> declared = new ArrayList<>();
    int at = -1;
    boolean inOrder = true;
    boolean lastHasRule;

    void declare(String chain) {
      declared.add(chain);
    }

    void rule(String chain) {
      int k = declared.indexOf(chain);
      if (k < 0 || k < at) {
        inOrder = false; // an undeclared chain, or rules out of order: not as iptables-save prints
        return;
      }
      at = k;
      lastHasRule |= k == declared.size() - 1;
    }

    Set<String> wholeBeforeLast() {
      if (!inOrder || !lastHasRule) {
        return Set.of();
      }
      return new HashSet<>(declared.subList(0, declared.size() - 1));
    }
  }

  private static String chainOf(String[] f) {
    for (int i = 0; i + 1 < f.length; i++) {
      if (f[i].equals("-A") || f[i].equals("--append")) {
        return f[i + 1];
      }
    }
    return "";
  }

  private static boolean builtinOutOfOrder(List<String> chains, String name) {
    int at = HOOK_ORDER.indexOf(name);
    if (at < 0) {
      return false;
    }
    for (String c : chains) {
      int k = HOOK_ORDER.indexOf(c);
      if (k < 0 || k >= at) {
        return true;
      }
    }
    return false;
  }

  /** The table a whole listing is of, by its built-in chains; null when they do not say. */
  private static String byBuiltins(List<String> chains) {
    Set<String> b = new HashSet<>();
    chains.stream().filter(BUILTIN::contains).forEach(b::add);
    if (b.equals(BUILTIN)) {
      return "mangle";
    }
    if (b.equals(Set.of("INPUT", "FORWARD", "OUTPUT"))) {
      return "filter";
    }
    if (b.equals(Set.of("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"))
        || b.equals(Set.of("PREROUTING", "OUTPUT", "POSTROUTING"))) {
      return "nat";
    }
    if (b.equals(Set.of("PREROUTING", "OUTPUT"))) {
      return "raw";
    }
    return null;
  }

  private static void close(Shown s, Listing l, boolean spec) {
    if (l == null || l.chains.isEmpty()) {
      return;
    }
    Prompt cmd = l.cmd;
    if (cmd != null && cmd.piped()) {
      return; // a filtered listing keeps chain headers and drops rules: nothing is whole
    }
    String table = cmd != null && l.firstAfterPrompt ? cmd.table() : null;
    String inferred = byBuiltins(l.chains);
    boolean wholeTable;
    if (table != null) {
      wholeTable = cmd.chain() == null;
    } else {
      table = inferred;
      wholeTable = inferred != null;
    }
    if (wholeTable && table != null) {
      s.tables.add(table);
    }
    for (String c : l.chains) {
      s.chain(table, c);
    }
  }

  // ------------------------------------------------------------------------------ other files

  /**
   * Whether {@code file} is in the input with everything its command prints. When it is not, the
   * check cannot conclude from what the file lacks: {@code what} is recorded as not checked, with
   * why. A pasted block without its command line is taken as whole, and that is recorded too.
   */
  boolean whole(String file, String what) {
    BundleFiles files = ctx.files();
    if (!files.has(file)) {
      ctx.assume("no " + file + ": " + what + " not checked");
      return false;
    }
    if (files.isLive()) {
      return true;
    }
    String[] lines = files.text(file).orElse("").split("\n", -1);
    boolean prompted = false;
    boolean unprompted = false;
    boolean header = false;
    for (String l : lines) {
      String c = Prompts.command(l);
      if (c != null) {
        prompted = true;
        Optional<String> why = restricted(c);
        if (why.isPresent()) {
          ctx.assume(
              file + " shows `" + c + "`, which " + why.get() + ": " + what + " not checked");
          return false;
        }
      } else if (!l.isBlank() && !prompted) {
        unprompted = true;
      }
      String t = l.strip();
      header |= t.startsWith("IP Virtual Server version") || t.startsWith("-A ");
    }
    if (!files.isPasted(file)) {
      return true;
    }
    if (file.equals("ipvsadm-save.txt") && !header) {
      // ipvsadm prints its version line first; a listing without it was cut (or grepped).
      ctx.assume(
          file + ": an ipvsadm listing without its first lines (cut): " + what + " not checked");
      return false;
    }
    if (unprompted) {
      ctx.assume(file + ": pasted without the command that printed it, taken as its whole output");
    }
    return true;
  }

  /** Why a command's output may lack lines of the whole state, or empty when it lists it all. */
  static Optional<String> restricted(String cmd) {
    return restricted(Prompt.parse(cmd));
  }

  /** Why a parsed command's output may lack lines of the whole state, or empty. */
  static Optional<String> restricted(Prompt p) {
    if (p.piped()) {
      return Optional.of("filters its output");
    }
    String prog = p.program();
    List<String> args = p.args();
    if (prog.isEmpty()) {
      return Optional.empty();
    }
    switch (prog) {
      case "ip" -> {
        int i = 0;
        while (i < args.size() && args.get(i).startsWith("-")) {
          i++;
        }
        if (i >= args.size()) {
          return Optional.empty();
        }
        String obj = args.get(i).toLowerCase(Locale.ROOT);
        List<String> rest = args.subList(i + 1, args.size());
        if (!obj.isEmpty() && "route".startsWith(obj)) {
          for (int k = 0; k < rest.size(); k++) {
            String a = rest.get(k);
            if (Set.of("show", "list", "ls", "lst").contains(a) || a.startsWith("-")) {
              continue;
            }
            if (a.equals("table") && k + 1 < rest.size()) {
              String tbl = rest.get(++k);
              if (tbl.equals("all") || tbl.equals("main")) {
                continue;
              }
            }
            return Optional.of("shows only some routes");
          }
        } else if (!obj.isEmpty() && "address".startsWith(obj)) {
          for (String a : rest) {
            if (!Set.of("show", "list", "ls", "lst").contains(a) && !a.startsWith("-")) {
              return Optional.of("shows only some interfaces");
            }
          }
        }
        return Optional.empty();
      }
      case "ipvsadm" -> {
        for (String a : args) {
          if (Set.of("-t", "-u", "-f", "--tcp-service", "--udp-service", "--fwmark-service")
              .contains(a)) {
            return Optional.of("lists one virtual server");
          }
        }
        return Optional.empty();
      }
      case "ipset" -> {
        for (int i = 0; i < args.size(); i++) {
          String a = args.get(i);
          if (a.equals("-t") || a.equals("-terse")) {
            return Optional.of("leaves the sets' members out");
          }
          if (Set.of("save", "list", "-L", "-S", "--list", "--save").contains(a)
              && i + 1 < args.size()
              && !args.get(i + 1).startsWith("-")) {
            return Optional.of("lists one set");
          }
        }
        return Optional.empty();
      }
      case "sysctl" -> {
        return args.contains("-a") || args.contains("-A") || args.contains("--all")
            ? Optional.empty()
            : Optional.of("shows only the keys it names");
      }
      default -> {
        return Optional.empty();
      }
    }
  }
}
