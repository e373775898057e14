package dev.svcproxy.nftables.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.svcproxy.nftables.text.Lexer.Kind;
import dev.svcproxy.nftables.text.Lexer.Token;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Converts nftables text into the JSON tree {@code nft -j list ruleset} (nft 1.0.6,
 * libnftables-json(5)) prints for the same ruleset, so that one JSON reader serves both. It reads
 * {@code nft [-a] list ruleset|table} output as people paste it (shell prompts, {@code # Warning:}
 * lines, counters and {@code # handle N} comments included) and {@code nft -f} transactions of
 * {@code add|create|insert|replace|delete|destroy|flush} commands (knftables' and svcproxy's
 * renderer's syntax), giving the ruleset that results.
 *
 * <p>Shape, as nft 1.0.6 prints it: {@code {"nftables": [metainfo, per table: table, sets and maps,
 * chains, then the rules of each chain in chain order]}}. Table and chain comments are not in nft
 * 1.0.6's JSON and are dropped likewise; set flags other than constant, interval and timeout are
 * not printed by it either. A {@code handle} appears only where the text shows {@code # handle N}.
 * The metainfo is {@code {"json_schema_version": 1, "svcproxy-converted-from": FILE}}.
 *
 * <p>Not understood, never dropped: a rule statement this converter does not know turns the rest of
 * the rule (from that statement up to its comment) into one statement {@code {"svcproxy-unparsed":
 * "the text"}}; a set element it cannot read becomes the element {@code {"svcproxy-unparsed":
 * "text"}}; a table-level object other than a set, map or chain (ct helper, counter, quota,
 * flowtable...) becomes a top-level entry {@code {"svcproxy-unparsed": {"family": F, "table": T,
 * "text": "..."}}}. A JSON reader reports these as not evaluated. Text with broken structure
 * (unbalanced braces, an unknown top-level keyword, a command naming a table or chain that does not
 * exist) throws {@link NftTextException} with file:line:column.
 *
 * <p>A transaction is not yet what the kernel lists, so the converter does what nft does between
 * the two (see Kernel): a one-element anonymous set becomes its element, a protocol match that only
 * states the next payload match's dependency is folded, {@code th} fields take the name of the
 * transport the rule already fixed, flag lists are printed in bit order, a bare inet reject is
 * typed by the rule's network protocol, a tcp reset in inet gets its {@code meta l4proto tcp}, a
 * set a rule updates becomes dynamic (size 65535), a set with the counter flag counts per element,
 * and symbolic chain priorities become numbers. Not emulated (rare in transactions, already
 * canonical in listings): constant folding ({@code ct mark & A | B}), service names and protocol
 * numbers. Elements of hash sets keep the text's order (the kernel lists its hash order).
 */
public final class NftTextConverter {
  private static final Set<String> FAMILIES =
      Set.of("ip", "ip6", "inet", "arp", "bridge", "netdev");
  private static final Set<String> OBJECTS =
      Set.of("ct", "quota", "limit", "flowtable", "secmark", "synproxy", "tunnel");
  private static final Pattern PROMPT =
      Pattern.compile(
          "^\\s*(?:\\[[^\\]]*\\]|[\\w.@:~/-]*)\\s?[#$%>]"
              + "(?:\\s*|\\s+(?:sudo\\s+)?(?:nft|cat|ip\\s+netns)\\b.*)$");

  private final String file;
  private final String src;
  private final List<Token> toks;
  private final String[] lines;
  private final Map<String, Table> tables = new LinkedHashMap<>();
  private int p;

  private NftTextConverter(String file, String text) {
    this.file = file;
    this.src = text.replace("\r\n", "\n").replace('\r', '\n');
    this.toks = Lexer.lex(file, src);
    this.lines = src.split("\n", -1);
  }

  /**
   * The JSON {@code nft -j list ruleset} would print for the ruleset {@code text} lists or builds;
   * {@code fileName} names it in errors and in the metainfo.
   */
  public static JsonNode toJson(String fileName, String text) {
    String t = text.startsWith("\uFEFF") ? text.substring(1) : text;
    NftTextConverter c = new NftTextConverter(fileName, t);
    c.parse();
    return c.json();
  }

  // ---- the model being built

  private static final class Table {
    final String family;
    final String name;
    Long handle;
    final Map<String, SetDef> sets = new LinkedHashMap<>();
    final Map<String, Chain> chains = new LinkedHashMap<>();
    final List<String> objects = new ArrayList<>();
    final Map<String, long[]> counters = new LinkedHashMap<>();

    Table(String family, String name) {
      this.family = family;
      this.name = name;
    }
  }

  private static final class Chain {
    final String name;
    Long handle;
    String type;
    String hook;
    String dev;
    Long prio;
    String policy;
    final List<RuleParser.Rule> rules = new ArrayList<>();

    Chain(String name) {
      this.name = name;
    }
  }

  private static final class SetDef {
    final boolean map;
    final String name;
    Long handle;
    JsonNode type;
    JsonNode data;
    final List<String> flags = new ArrayList<>();
    Long timeout;
    Long gcInterval;
    Long size;
    String policy;
    String comment;
    boolean counter;
    boolean updated;
    final List<JsonNode> elems = new ArrayList<>();

    SetDef(boolean map, String name) {
      this.map = map;
      this.name = name;
    }
  }

  // ---- token helpers

  private Token peek() {
    return toks.get(p);
  }

  private Token peek(int k) {
    return toks.get(Math.min(p + k, toks.size() - 1));
  }

  private boolean at(String s) {
    return peek().is(s);
  }

  private boolean atKind(Kind k) {
    return peek().kind() == k;
  }

  private NftTextException error(Token t, String problem) {
    return new NftTextException(file, t.line(), t.column(), problem);
  }

  private Token next() {
    Token t = toks.get(p);
    if (t.kind() == Kind.EOF) {
      throw error(t, "unexpected end of text");
    }
    p++;
    return t;
  }

  private String name() {
    Token t = next();
    if (t.kind() != Kind.WORD && t.kind() != Kind.STRING) {
      throw error(t, "expected a name, found '" + t.text() + "'");
    }
    return t.text();
  }

  private void expect(String s) {
    Token t = peek();
    if (!t.is(s)) {
      throw error(
          t,
          "expected '"
              + s
              + "', found '"
              + (t.kind() == Kind.NEWLINE ? "end of line" : t.text())
              + "'");
    }
    p++;
  }

  private boolean atStatementEnd() {
    Token t = peek();
    return t.kind() == Kind.NEWLINE || t.kind() == Kind.EOF || t.is(";") || t.is("}");
  }

  private void skipSeparators() {
    while (atKind(Kind.NEWLINE) || at(";")) {
      p++;
    }
  }

  private String family() {
    if (atKind(Kind.WORD) && FAMILIES.contains(peek().text()) && peek(1).kind() == Kind.WORD) {
      return next().text();
    }
    return "ip";
  }

  // ---- top level

  private void parse() {
    while (true) {
      skipSeparators();
      Token t = peek();
      if (t.kind() == Kind.EOF) {
        return;
      }
      if (t.kind() == Kind.HANDLE) {
        p++;
        continue;
      }
      if (t.kind() != Kind.WORD || !command(t)) {
        if (PROMPT.matcher(lines[t.line() - 1]).matches()) {
          skipLine(t.line());
          continue;
        }
        if (t.is("}")) {
          throw error(t, "unbalanced '}'");
        }
        throw error(t, "unknown top-level keyword '" + t.text() + "'");
      }
    }
  }

  private void skipLine(int line) {
    while (peek().kind() != Kind.EOF && peek().line() == line && !atKind(Kind.NEWLINE)) {
      p++;
    }
  }

  /** Runs the command starting at {@code t}; false when {@code t} starts none. */
  private boolean command(Token t) {
    switch (t.text()) {
      case "table" -> {
        p++;
        Table table = table(family(), name());
        if (at("{")) {
          tableBlock(table);
        }
      }
      case "add", "create" -> {
        p++;
        add();
      }
      case "insert", "replace" -> {
        p++;
        expect("rule");
        ruleCommand(t.text());
      }
      case "delete", "destroy" -> {
        p++;
        delete(t.text().equals("destroy"));
      }
      case "flush" -> {
        p++;
        flush();
      }
      default -> {
        return false;
      }
    }
    if (!atStatementEnd() && !atKind(Kind.HANDLE)) {
      throw error(peek(), "unexpected '" + peek().text() + "' after the command");
    }
    return true;
  }

  private Table table(String family, String name) {
    return tables.computeIfAbsent(family + " " + name, k -> new Table(family, name));
  }

  private Table existingTable(Token at, String family, String name) {
    Table t = tables.get(family + " " + name);
    if (t == null) {
      throw error(at, "no table " + family + " " + name);
    }
    return t;
  }

  private void add() {
    Token kw = next();
    switch (kw.text()) {
      case "table" -> {
        Table table = table(family(), name());
        if (at("{")) {
          tableBlock(table);
        }
      }
      case "chain" -> {
        Token at = peek();
        String fam = family();
        Table table = existingTable(at, fam, name());
        Chain c = table.chains.computeIfAbsent(name(), Chain::new);
        if (at("{")) {
          chainBlock(table, c);
        }
      }
      case "set", "map" -> {
        Token at = peek();
        String fam = family();
        Table table = existingTable(at, fam, name());
        String n = name();
        SetDef s = table.sets.computeIfAbsent(n, k -> new SetDef(kw.text().equals("map"), k));
        setBlock(table, s);
      }
      case "element" -> {
        Token at = peek();
        String fam = family();
        Table table = existingTable(at, fam, name());
        SetDef s = existingSet(table, name());
        s.elems.addAll(elements(table));
      }
      case "rule" -> ruleCommand("add");
      default -> throw error(kw, "unknown object '" + kw.text() + "' after add");
    }
  }

  private SetDef existingSet(Table table, String name) {
    SetDef s = table.sets.get(name);
    if (s == null) {
      throw error(
          toks.get(p - 1), "no set " + name + " in table " + table.family + " " + table.name);
    }
    return s;
  }

  private Chain existingChain(Table table, Token at, String name) {
    Chain c = table.chains.get(name);
    if (c == null) {
      throw error(at, "no chain " + name + " in table " + table.family + " " + table.name);
    }
    return c;
  }

  private void ruleCommand(String verb) {
    Token at = peek();
    String fam = family();
    Table table = existingTable(at, fam, name());
    Token chainTok = peek();
    Chain c = existingChain(table, chainTok, name());
    Long handle = null;
    Integer index = null;
    if ((at("handle") || at("position") || at("index"))
        && peek(1).kind() == Kind.WORD
        && peek(1).text().matches("\\d+")) {
      String how = next().text();
      long n = number(next());
      if (how.equals("index")) {
        index = (int) n;
      } else {
        handle = n;
      }
    }
    RuleParser.Rule r = rule(table, c);
    int pos;
    if (handle != null) {
      pos = -1;
      for (int i = 0; i < c.rules.size(); i++) {
        if (handle.equals(c.rules.get(i).handle())) {
          pos = i;
        }
      }
      if (pos < 0) {
        throw error(chainTok, "no rule with handle " + handle + " in chain " + c.name);
      }
    } else {
      pos =
          index != null
              ? Math.min(index, c.rules.size())
              : (verb.equals("insert") ? 0 : c.rules.size());
    }
    switch (verb) {
      case "replace" -> c.rules.set(pos, r);
      case "insert" -> c.rules.add(pos, r);
      default -> c.rules.add(handle != null || index != null ? pos + 1 : pos, r);
    }
  }

  private void delete(boolean destroy) {
    Token kw = next();
    Token at = peek();
    String fam = family();
    String tname = name();
    Table table = tables.get(fam + " " + tname);
    if (table == null) {
      if (destroy) {
        skipToStatementEnd();
        return;
      }
      throw error(at, "no table " + fam + " " + tname);
    }
    switch (kw.text()) {
      case "table" -> tables.remove(fam + " " + tname);
      case "chain" -> {
        Token ct = peek();
        String n = name();
        if (table.chains.remove(n) == null && !destroy) {
          throw error(ct, "no chain " + n);
        }
      }
      case "set", "map" -> {
        Token st = peek();
        String n = name();
        if (table.sets.remove(n) == null && !destroy) {
          throw error(st, "no set " + n);
        }
      }
      case "rule" -> {
        Chain c = existingChain(table, peek(), name());
        expect("handle");
        long h = number(next());
        c.rules.removeIf(r -> Long.valueOf(h).equals(r.handle()));
      }
      case "element" -> {
        SetDef s = existingSet(table, name());
        for (JsonNode e : elements(table)) {
          JsonNode key = key(e);
          s.elems.removeIf(x -> key(x).equals(key));
        }
      }
      default -> throw error(kw, "unknown object '" + kw.text() + "' after delete");
    }
  }

  private static JsonNode key(JsonNode e) {
    JsonNode k = e.isArray() ? e.get(0) : e;
    return k.has("elem") ? k.get("elem").get("val") : k;
  }

  private void flush() {
    Token kw = next();
    if (kw.text().equals("ruleset")) {
      if (atKind(Kind.WORD) && FAMILIES.contains(peek().text())) {
        String fam = next().text();
        tables.values().removeIf(t -> t.family.equals(fam));
      } else {
        tables.clear();
      }
      return;
    }
    Token at = peek();
    Table table = existingTable(at, family(), name());
    switch (kw.text()) {
      case "table" -> {
        table.chains.values().forEach(c -> c.rules.clear());
        table.sets.values().forEach(s -> s.elems.clear());
      }
      case "chain" -> existingChain(table, peek(), name()).rules.clear();
      case "set", "map" -> existingSet(table, name()).elems.clear();
      default -> throw error(kw, "unknown object '" + kw.text() + "' after flush");
    }
  }

  private void skipToStatementEnd() {
    int depth = 0;
    while (peek().kind() != Kind.EOF) {
      if (depth == 0 && (atKind(Kind.NEWLINE) || at(";"))) {
        return;
      }
      if (at("{")) {
        depth++;
      } else if (at("}")) {
        depth--;
      }
      p++;
    }
  }

  // ---- blocks

  /** Index just past the '}' closing the '{' at the cursor; an error at the '{' if none. */
  private int closing() {
    Token open = peek();
    int depth = 0;
    for (int i = p; i < toks.size(); i++) {
      Token t = toks.get(i);
      if (t.is("{")) {
        depth++;
      } else if (t.is("}")) {
        depth--;
        if (depth == 0) {
          return i + 1;
        }
      }
    }
    throw error(open, "unbalanced '{': no matching '}'");
  }

  private Long openBlock() {
    closing();
    expect("{");
    if (atKind(Kind.HANDLE)) {
      return number(next());
    }
    return null;
  }

  private void tableBlock(Table table) {
    Long h = openBlock();
    if (h != null) {
      table.handle = h;
    }
    while (true) {
      skipSeparators();
      Token t = peek();
      if (t.is("}")) {
        p++;
        return;
      }
      String kw = next().text();
      switch (kw) {
        case "flags", "comment" -> skipToStatementEnd();
        case "set", "map" -> {
          String n = name();
          SetDef s = table.sets.computeIfAbsent(n, k -> new SetDef(kw.equals("map"), k));
          setBlock(table, s);
        }
        case "chain" -> {
          Chain c = table.chains.computeIfAbsent(name(), Chain::new);
          if (at("{")) {
            chainBlock(table, c);
          }
        }
        case "counter" -> {
          String n = name();
          long[] c = {0, 0, -1};
          if (at("{")) {
            Long ch = openBlock();
            c[2] = ch == null ? -1 : ch;
            while (true) {
              skipSeparators();
              if (at("}")) {
                p++;
                break;
              }
              Token k = next();
              if (k.is("packets")) {
                c[0] = number(next());
              } else if (k.is("bytes")) {
                c[1] = number(next());
              } else {
                throw error(k, "unknown keyword '" + k.text() + "' in counter " + n);
              }
            }
          }
          table.counters.put(n, c);
        }
        default -> {
          if (!OBJECTS.contains(kw) || t.kind() != Kind.WORD) {
            throw error(t, "unknown keyword '" + t.text() + "' in table " + table.name);
          }
          while (!at("{") && !atStatementEnd()) {
            p++;
          }
          int end = at("{") ? closing() : p;
          table.objects.add(src.substring(t.start(), toks.get(end - 1).end()));
          p = end;
        }
      }
    }
  }

  private void chainBlock(Table table, Chain c) {
    Long h = openBlock();
    if (h != null) {
      c.handle = h;
    }
    while (true) {
      skipSeparators();
      Token t = peek();
      if (t.is("}")) {
        p++;
        return;
      }
      if (t.is("type") && peek(2).is("hook")) {
        p++;
        c.type = name();
        expect("hook");
        c.hook = name();
        if (at("device")) {
          p++;
          c.dev = name();
        } else if (at("devices")) {
          skipToStatementEnd();
        }
        expect("priority");
        StringBuilder prio = new StringBuilder();
        while (!atStatementEnd()) {
          prio.append(next().text());
        }
        c.prio = priority(t, table.family, c.hook, prio.toString());
        if (c.policy == null) {
          c.policy = "accept";
        }
      } else if (t.is("policy")
          && peek(1).kind() == Kind.WORD
          && Set.of("accept", "drop").contains(peek(1).text())) {
        p++;
        c.policy = next().text();
      } else if (t.is("comment") && peek(1).kind() == Kind.STRING) {
        p += 2;
      } else if (t.kind() == Kind.HANDLE) {
        p++;
      } else {
        c.rules.add(rule(table, c));
      }
    }
  }

  private static final Map<String, Long> PRIO =
      Map.of(
          "raw",
          -300L,
          "mangle",
          -150L,
          "dstnat",
          -100L,
          "filter",
          0L,
          "security",
          50L,
          "srcnat",
          100L);
  private static final Map<String, Long> BRIDGE_PRIO =
      Map.of("dstnat", -300L, "filter", -200L, "out", 100L, "srcnat", 300L);

  private long priority(Token at, String family, String hook, String text) {
    java.util.regex.Matcher m = Pattern.compile("([a-z]*)([+-]?\\d+)?").matcher(text);
    if (!m.matches() || (m.group(1).isEmpty() && m.group(2) == null)) {
      throw error(at, "unknown chain priority '" + text + "'");
    }
    long base = 0;
    if (!m.group(1).isEmpty()) {
      Long b = (family.equals("bridge") ? BRIDGE_PRIO : PRIO).get(m.group(1));
      if (b == null) {
        throw error(at, "unknown chain priority '" + text + "'");
      }
      base = b;
    }
    try {
      return base + (m.group(2) == null ? 0 : Long.parseLong(m.group(2)));
    } catch (NumberFormatException e) {
      throw error(at, "unknown chain priority '" + text + "'");
    }
  }

  /** The tokens of one rule, up to a newline or ';' outside braces, or the chain's '}'. */
  private RuleParser.Rule rule(Table table, Chain c) {
    int start = p;
    int depth = 0;
    List<Token> body = new ArrayList<>();
    while (true) {
      Token t = peek();
      if (t.kind() == Kind.EOF) {
        if (depth > 0) {
          throw error(toks.get(start), "unbalanced '{' in rule");
        }
        break;
      }
      if (depth == 0 && (t.kind() == Kind.NEWLINE || t.is(";") || t.is("}"))) {
        break;
      }
      if (t.is("{")) {
        depth++;
      } else if (t.is("}")) {
        depth--;
      }
      p++;
      if (t.kind() == Kind.NEWLINE) {
        continue;
      }
      body.add(t);
      if (t.kind() == Kind.HANDLE) {
        break;
      }
    }
    if (body.isEmpty()) {
      throw error(toks.get(start), "empty rule in chain " + c.name);
    }
    RuleParser.Rule r = new RuleParser(src, body, table.family).rule();
    // nft makes a set a rule adds to or updates dynamic when the rule is added; a later flush
    // of the rule leaves the set so.
    for (JsonNode st : r.expr()) {
      String ref = st.path("set").path("set").asText("");
      SetDef s = ref.startsWith("@") ? table.sets.get(ref.substring(1)) : null;
      if (s != null) {
        s.updated = true;
        if (!s.flags.contains("dynamic")) {
          s.flags.add("dynamic");
        }
      }
    }
    return r;
  }

  private void setBlock(Table table, SetDef s) {
    int end = closing();
    Long h = openBlock();
    if (h != null) {
      s.handle = h;
    }
    while (true) {
      skipSeparators();
      Token t = peek();
      if (t.is("}")) {
        p++;
        break;
      }
      String kw = next().text();
      switch (kw) {
        case "type" -> setType(s);
        case "typeof" -> setTypeof(t, s);
        case "flags" -> {
          while (!atStatementEnd()) {
            Token f = next();
            if (!f.is(",")) {
              s.flags.add(f.text());
            }
          }
        }
        case "timeout" -> s.timeout = time(next());
        case "gc-interval" -> s.gcInterval = time(next());
        case "size" -> s.size = number(next());
        case "policy" -> s.policy = name();
        case "comment" -> s.comment = next().text();
        case "counter" -> s.counter = true;
        case "auto-merge" -> {}
        case "elements" -> {
          expect("=");
          s.elems.addAll(elements(table));
        }
        default -> throw error(t, "unknown keyword '" + kw + "' in set " + s.name);
      }
    }
    if (p != end) {
      throw error(peek(), "set block of " + s.name + " ended early");
    }
  }

  /** The datatypes nft gives the expressions a {@code typeof} set may name. */
  private static final Map<String, String> TYPEOF =
      Map.ofEntries(
          Map.entry("ip saddr", "ipv4_addr"),
          Map.entry("ip daddr", "ipv4_addr"),
          Map.entry("ip6 saddr", "ipv6_addr"),
          Map.entry("ip6 daddr", "ipv6_addr"),
          Map.entry("tcp sport", "inet_service"),
          Map.entry("tcp dport", "inet_service"),
          Map.entry("udp sport", "inet_service"),
          Map.entry("udp dport", "inet_service"),
          Map.entry("th sport", "inet_service"),
          Map.entry("th dport", "inet_service"),
          Map.entry("l4proto", "inet_proto"),
          Map.entry("ip protocol", "inet_proto"),
          Map.entry("iifname", "ifname"),
          Map.entry("oifname", "ifname"),
          Map.entry("iif", "iface_index"),
          Map.entry("oif", "iface_index"),
          Map.entry("mark", "mark"),
          Map.entry("ct mark", "mark"),
          Map.entry("ct state", "ct_state"),
          Map.entry("ether saddr", "ether_addr"),
          Map.entry("ether daddr", "ether_addr"),
          Map.entry("nfproto", "nf_proto"),
          Map.entry("verdict", "verdict"));

  /**
   * {@code typeof EXPR [. EXPR] [: EXPR]}: nft's JSON prints the datatypes, as for {@code type}.
   */
  private void setTypeof(Token at, SetDef s) {
    List<List<String>> parts = new ArrayList<>();
    List<StringBuilder> cur = new ArrayList<>(List.of(new StringBuilder()));
    List<List<StringBuilder>> all = new ArrayList<>(List.of(cur));
    while (!atStatementEnd()) {
      Token t = next();
      if (t.is(":")) {
        cur = new ArrayList<>(List.of(new StringBuilder()));
        all.add(cur);
      } else if (t.is(".")) {
        cur.add(new StringBuilder());
      } else {
        StringBuilder b = cur.get(cur.size() - 1);
        b.append(b.length() > 0 ? " " : "").append(t.text());
      }
    }
    for (List<StringBuilder> side : all) {
      List<String> types = new ArrayList<>();
      for (StringBuilder e : side) {
        String expr = e.toString().replaceFirst("^meta ", "");
        String type = TYPEOF.get(expr);
        if (type == null) {
          throw error(at, "typeof " + e + ": datatype not known to this converter");
        }
        types.add(type);
      }
      parts.add(types);
    }
    List<String> key = parts.get(0);
    if (key.size() == 1) {
      s.type = RuleParser.F.textNode(key.get(0));
    } else {
      ArrayNode a = RuleParser.F.arrayNode();
      key.forEach(a::add);
      s.type = a;
    }
    if (parts.size() > 1) {
      s.data = RuleParser.F.textNode(String.join(" . ", parts.get(1)));
    }
  }

  private long number(Token t) {
    try {
      return Long.parseLong(t.text());
    } catch (NumberFormatException e) {
      throw error(t, "not a number: '" + t.text() + "'");
    }
  }

  private long time(Token t) {
    try {
      return Times.seconds(t.text());
    } catch (RuleParser.Unknown e) {
      throw error(t, "not a time: " + t.text());
    }
  }

  private void setType(SetDef s) {
    List<List<String>> parts = new ArrayList<>();
    parts.add(new ArrayList<>());
    while (!atStatementEnd()) {
      Token t = next();
      if (t.is(":")) {
        parts.add(new ArrayList<>());
      } else if (!t.is(".")) {
        parts.get(parts.size() - 1).add(t.text());
      }
    }
    List<String> key = parts.get(0);
    if (key.size() == 1) {
      s.type = RuleParser.F.textNode(key.get(0));
    } else {
      ArrayNode a = RuleParser.F.arrayNode();
      key.forEach(a::add);
      s.type = a;
    }
    if (parts.size() > 1) {
      s.data = RuleParser.F.textNode(String.join(" . ", parts.get(1)));
    }
  }

  /** A brace-enclosed element list at the cursor. */
  private List<JsonNode> elements(Table table) {
    int end = closing();
    List<Token> inner = new ArrayList<>();
    for (Token t : toks.subList(p + 1, end - 1)) {
      if (t.kind() != Kind.NEWLINE) {
        inner.add(t);
      }
    }
    p = end;
    List<JsonNode> out = new ArrayList<>();
    int i = 0;
    while (i < inner.size()) {
      int j = i;
      int depth = 0;
      while (j < inner.size() && !(depth == 0 && inner.get(j).is(","))) {
        if (inner.get(j).is("{")) {
          depth++;
        } else if (inner.get(j).is("}")) {
          depth--;
        }
        j++;
      }
      List<Token> one = inner.subList(i, j);
      if (!one.isEmpty()) {
        out.add(new RuleParser(src, one, table.family).elementOrUnparsed());
      }
      i = j + 1;
    }
    return out;
  }

  // ---- output

  /** In a set with the counter flag, every element has a counter (zero when just added). */
  private static JsonNode withCounter(JsonNode e) {
    if (e.isArray()) {
      ArrayNode a = RuleParser.F.arrayNode();
      a.add(withCounter(e.get(0)));
      for (int i = 1; i < e.size(); i++) {
        a.add(e.get(i));
      }
      return a;
    }
    ObjectNode w;
    if (e.isObject() && e.has("elem")) {
      w = e.deepCopy();
    } else {
      w = RuleParser.F.objectNode();
      w.putObject("elem").set("val", e);
    }
    ObjectNode in = (ObjectNode) w.get("elem");
    if (!in.has("counter")) {
      in.putObject("counter").put("packets", 0).put("bytes", 0);
    }
    return w;
  }

  private static boolean usedByRule(Table t, SetDef s) {
    for (Chain c : t.chains.values()) {
      for (RuleParser.Rule r : c.rules) {
        for (JsonNode st : r.expr()) {
          if (st.path("set").path("set").asText("").equals("@" + s.name)) {
            return true;
          }
        }
      }
    }
    return false;
  }

  /** nft makes a set that a rule adds to or updates dynamic, sized 65535 unless given a size. */
  private static void markDynamic(Table t) {
    for (Chain c : t.chains.values()) {
      for (RuleParser.Rule r : c.rules) {
        for (JsonNode st : r.expr()) {
          String ref = st.path("set").path("set").asText("");
          SetDef s = ref.startsWith("@") ? t.sets.get(ref.substring(1)) : null;
          if (s != null && !s.flags.contains("dynamic")) {
            s.flags.add("dynamic");
          }
        }
      }
    }
  }

  private JsonNode json() {
    ObjectNode root = RuleParser.F.objectNode();
    ArrayNode list = root.putArray("nftables");
    list.addObject()
        .putObject("metainfo")
        .put("json_schema_version", 1)
        .put("svcproxy-converted-from", file);
    for (Table t : tables.values()) {
      markDynamic(t);
      ObjectNode tn = list.addObject().putObject("table");
      tn.put("family", t.family).put("name", t.name);
      if (t.handle != null) {
        tn.put("handle", t.handle);
      }
      for (Map.Entry<String, long[]> e : t.counters.entrySet()) {
        String cname = e.getKey();
        long[] c = e.getValue();
        ObjectNode cn = list.addObject().putObject("counter");
        cn.put("family", t.family).put("name", cname).put("table", t.name);
        if (c[2] >= 0) {
          cn.put("handle", c[2]);
        }
        cn.put("packets", c[0]).put("bytes", c[1]);
      }
      for (String o : t.objects) {
        list.addObject()
            .putObject("svcproxy-unparsed")
            .put("family", t.family)
            .put("table", t.name)
            .put("text", o);
      }
      for (SetDef s : t.sets.values()) {
        ObjectNode sn = list.addObject().putObject(s.map ? "map" : "set");
        sn.put("family", t.family).put("name", s.name).put("table", t.name);
        sn.set("type", s.type);
        if (s.handle != null) {
          sn.put("handle", s.handle);
        }
        if (s.policy != null && !s.policy.equals("performance")) {
          sn.put("policy", s.policy);
        }
        Long size = s.size;
        if (size == null && s.flags.contains("dynamic") && (s.updated || usedByRule(t, s))) {
          size = 65535L;
        }
        if (size != null) {
          sn.put("size", size);
        }
        List<String> flags =
            List.of("constant", "interval", "timeout").stream().filter(s.flags::contains).toList();
        if (!flags.isEmpty()) {
          ArrayNode fa = sn.putArray("flags");
          flags.forEach(fa::add);
        }
        if (s.timeout != null) {
          sn.put("timeout", s.timeout);
        }
        if (s.gcInterval != null) {
          sn.put("gc-interval", s.gcInterval);
        }
        if (s.comment != null) {
          sn.put("comment", s.comment);
        }
        if (s.data != null) {
          sn.set("map", s.data);
        }
        if (!s.elems.isEmpty()) {
          ArrayNode ea = sn.putArray("elem");
          s.elems.forEach(e -> ea.add(s.counter ? withCounter(e) : e));
        }
        if (s.counter) {
          sn.putArray("stmt").addObject().putNull("counter");
        }
      }
      for (Chain c : t.chains.values()) {
        ObjectNode cn = list.addObject().putObject("chain");
        cn.put("family", t.family).put("table", t.name).put("name", c.name);
        if (c.handle != null) {
          cn.put("handle", c.handle);
        }
        if (c.hook != null) {
          cn.put("type", c.type).put("hook", c.hook).put("prio", c.prio).put("policy", c.policy);
          if (c.dev != null) {
            cn.put("dev", c.dev);
          }
        }
      }
      for (Chain c : t.chains.values()) {
        for (RuleParser.Rule r : c.rules) {
          ObjectNode rn = list.addObject().putObject("rule");
          rn.put("family", t.family).put("table", t.name).put("chain", c.name);
          if (r.handle() != null) {
            rn.put("handle", r.handle());
          }
          if (r.comment() != null) {
            rn.put("comment", r.comment());
          }
          ArrayNode ex = rn.putArray("expr");
          r.expr().forEach(ex::add);
        }
      }
    }
    return root;
  }
}
