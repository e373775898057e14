package dev.svcproxy.nftables.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.svcproxy.nftables.text.Lexer.Kind;
import dev.svcproxy.nftables.text.Lexer.Token;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads the statements of one rule (and set elements, which share the value syntax) into
 * libnftables-json nodes. A statement it does not know ends the parse: the rest of the rule becomes
 * one {@code {"svcproxy-unparsed": "text"}} statement, so nothing is dropped.
 */
final class RuleParser {
  static final JsonNodeFactory F = JsonNodeFactory.instance;

  /** Fields per payload protocol (nft's header templates). */
  private static final Map<String, Set<String>> FIELDS =
      Map.ofEntries(
          Map.entry(
              "ip",
              Set.of(
                  "version",
                  "hdrlength",
                  "dscp",
                  "ecn",
                  "length",
                  "id",
                  "frag-off",
                  "ttl",
                  "protocol",
                  "checksum",
                  "saddr",
                  "daddr")),
          Map.entry(
              "ip6",
              Set.of(
                  "version",
                  "dscp",
                  "ecn",
                  "flowlabel",
                  "length",
                  "nexthdr",
                  "hoplimit",
                  "saddr",
                  "daddr")),
          Map.entry(
              "tcp",
              Set.of(
                  "sport",
                  "dport",
                  "sequence",
                  "ackseq",
                  "doff",
                  "reserved",
                  "flags",
                  "window",
                  "checksum",
                  "urgptr")),
          Map.entry("udp", Set.of("sport", "dport", "length", "checksum")),
          Map.entry("udplite", Set.of("sport", "dport", "checksum")),
          Map.entry("sctp", Set.of("sport", "dport", "vtag", "checksum")),
          Map.entry("dccp", Set.of("sport", "dport", "type")),
          Map.entry("th", Set.of("sport", "dport")),
          Map.entry("icmp", Set.of("type", "code", "checksum", "id", "sequence", "gateway", "mtu")),
          Map.entry(
              "icmpv6",
              Set.of(
                  "type",
                  "code",
                  "checksum",
                  "parameter-problem",
                  "packet-too-big",
                  "id",
                  "sequence",
                  "max-delay")),
          Map.entry("ether", Set.of("saddr", "daddr", "type")),
          Map.entry("vlan", Set.of("id", "cfi", "dei", "pcp", "type")),
          Map.entry(
              "arp", Set.of("htype", "ptype", "hlen", "plen", "operation", "saddr", "daddr")));

  /** Meta keys nft accepts without the {@code meta} keyword. */
  private static final Set<String> BARE_META =
      Set.of(
          "mark",
          "iif",
          "oif",
          "iifname",
          "oifname",
          "iiftype",
          "oiftype",
          "skuid",
          "skgid",
          "nftrace",
          "rtclassid",
          "pkttype",
          "cpu",
          "iifgroup",
          "oifgroup",
          "cgroup",
          "priority");

  private static final Set<String> RELATIONAL =
      Set.of("==", "!=", "<", ">", "<=", ">=", "eq", "ne", "lt", "gt", "le", "ge");

  private static final Map<String, String> BINOP =
      Map.of(
          "&", "&", "and", "&", "|", "|", "or", "|", "^", "^", "xor", "^", "<<", "<<", "lshift",
          "<<", ">>", ">>", "rshift", ">>");

  private static final Set<String> FIB_FLAGS = Set.of("saddr", "daddr", "mark", "iif", "oif");
  private static final List<String> FIB_FLAG_ORDER =
      List.of("saddr", "daddr", "mark", "iif", "oif");

  private static final Pattern DEC = Pattern.compile("\\d+");
  private static final Pattern HEX = Pattern.compile("0x[0-9a-fA-F]+");
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
  private static final Pattern IPV6 = Pattern.compile("[0-9a-fA-F:]*:[0-9a-fA-F:.]*");

  /** A statement or expression this parser does not know. */
  static final class Unknown extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Unknown(String why) {
      super(why, null, false, false);
    }
  }

  private final String src;
  private final List<Token> toks;
  private final String family;
  private int p;

  RuleParser(String src, List<Token> toks, String family) {
    this.src = src;
    this.toks = toks;
    this.family = family;
  }

  /** A rule: its statements, its comment (or null), its handle (or null). */
  record Rule(List<JsonNode> expr, String comment, Long handle) {}

  /** Parses all tokens as one rule. */
  Rule rule() {
    int end = toks.size();
    Long handle = null;
    String comment = null;
    if (end > 0 && toks.get(end - 1).kind() == Kind.HANDLE) {
      try {
        handle = Long.parseLong(toks.get(end - 1).text());
      } catch (NumberFormatException e) {
        handle = null;
      }
      end--;
    }
    if (end >= 2 && toks.get(end - 2).is("comment") && toks.get(end - 1).kind() == Kind.STRING) {
      comment = toks.get(end - 1).text();
      end -= 2;
    }
    List<JsonNode> out = new ArrayList<>();
    List<Token> body = toks.subList(0, end);
    RuleParser sub = new RuleParser(src, body, family);
    while (sub.p < body.size()) {
      int start = sub.p;
      try {
        out.add(sub.statement());
      } catch (RuntimeException e) {
        // Whatever this parser cannot read (an unknown word, a number that is none) stays as text.
        String raw = src.substring(body.get(start).start(), body.get(body.size() - 1).end());
        out.add(F.objectNode().put("svcproxy-unparsed", raw));
        break;
      }
    }
    return new Rule(Kernel.rule(out, family), comment, handle);
  }

  // ---- token helpers

  private Token peek() {
    return p < toks.size() ? toks.get(p) : new Token(Kind.EOF, "", 0, 0, 0, 0);
  }

  private Token peek(int k) {
    return p + k < toks.size() ? toks.get(p + k) : new Token(Kind.EOF, "", 0, 0, 0, 0);
  }

  private boolean at(String s) {
    return peek().is(s);
  }

  private boolean atEnd() {
    return p >= toks.size();
  }

  private Token next() {
    if (atEnd()) {
      throw new Unknown("unexpected end of rule");
    }
    return toks.get(p++);
  }

  private String word() {
    Token t = next();
    if (t.kind() != Kind.WORD) {
      throw new Unknown("expected a word, found " + t.text());
    }
    return t.text();
  }

  private void expect(String s) {
    if (!at(s)) {
      throw new Unknown("expected " + s);
    }
    p++;
  }

  private void skipNewlines() {
    while (peek().kind() == Kind.NEWLINE) {
      p++;
    }
  }

  // ---- statements

  private JsonNode statement() {
    Token t = peek();
    if (t.kind() != Kind.WORD && !t.is("@") && !t.is("{") && !t.is("(")) {
      throw new Unknown("unexpected " + t.text());
    }
    switch (t.text()) {
      case "accept", "drop", "return", "continue" -> {
        p++;
        return F.objectNode().putNull(t.text());
      }
      case "jump", "goto" -> {
        p++;
        ObjectNode o = F.objectNode();
        o.putObject(t.text()).put("target", word());
        return o;
      }
      case "counter" -> {
        p++;
        return counter();
      }
      case "notrack" -> {
        p++;
        return F.objectNode().putNull("notrack");
      }
      case "log" -> {
        p++;
        return log();
      }
      case "limit" -> {
        p++;
        return limit();
      }
      case "reject" -> {
        p++;
        return reject();
      }
      case "masquerade", "redirect", "snat", "dnat" -> {
        p++;
        return nat(t.text());
      }
      case "update", "add", "delete" -> {
        if (peek(1).is("@")) {
          p++;
          return setStatement(t.text());
        }
        throw new Unknown(t.text());
      }
      default -> {
        return exprStatement();
      }
    }
  }

  private JsonNode counter() {
    ObjectNode c = F.objectNode();
    long packets = 0;
    long bytes = 0;
    if (at("packets")) {
      p++;
      packets = Long.parseLong(word());
      expect("bytes");
      bytes = Long.parseLong(word());
    } else if (at("name")) {
      p++;
      return F.objectNode().put("counter", next().text());
    }
    c.putObject("counter").put("packets", packets).put("bytes", bytes);
    return c;
  }

  private JsonNode log() {
    ObjectNode inner = F.objectNode();
    while (!atEnd()) {
      if (at("prefix")) {
        p++;
        Token s = next();
        inner.put("prefix", s.text());
      } else if (at("level")) {
        p++;
        String level = word();
        // warn is nft's default level, which its JSON leaves out.
        if (!level.equals("warn")) {
          inner.put("level", level);
        }
      } else if (at("group")) {
        p++;
        inner.put("group", Long.parseLong(word()));
      } else if (at("snaplen")) {
        p++;
        inner.put("snaplen", Long.parseLong(word()));
      } else if (at("queue-threshold")) {
        p++;
        inner.put("queue-threshold", Long.parseLong(word()));
      } else {
        break;
      }
    }
    ObjectNode o = F.objectNode();
    if (inner.isEmpty()) {
      o.putNull("log");
    } else {
      o.set("log", inner);
    }
    return o;
  }

  private JsonNode limit() {
    expect("rate");
    boolean over = false;
    if (at("over")) {
      p++;
      over = true;
    } else if (at("until")) {
      p++;
    }
    String rate = word();
    int slash = rate.indexOf('/');
    if (slash < 0 || !DEC.matcher(rate.substring(0, slash)).matches()) {
      throw new Unknown("limit rate " + rate);
    }
    ObjectNode l = F.objectNode();
    l.put("rate", Long.parseLong(rate.substring(0, slash)));
    long burst = 5;
    if (at("burst")) {
      p++;
      burst = Long.parseLong(word());
      if (at("packets")) {
        p++;
      } else if (peek().kind() == Kind.WORD && peek().text().endsWith("bytes")) {
        throw new Unknown("byte burst");
      }
    }
    l.put("burst", burst);
    l.put("per", rate.substring(slash + 1));
    if (over) {
      l.put("inv", true);
    }
    ObjectNode o = F.objectNode();
    o.set("limit", l);
    return o;
  }

  private JsonNode reject() {
    ObjectNode r = F.objectNode();
    if (at("with")) {
      p++;
      String kind = word();
      if (kind.equals("tcp")) {
        expect("reset");
        r.put("type", "tcp reset");
      } else if (kind.equals("icmp") || kind.equals("icmpx") || kind.equals("icmpv6")) {
        if (at("type")) {
          p++;
        }
        r.put("type", kind).put("expr", word());
      } else {
        throw new Unknown("reject with " + kind);
      }
    } else {
      String type =
          switch (family) {
            case "ip" -> "icmp";
            case "ip6" -> "icmpv6";
            default -> "icmpx";
          };
      r.put("type", type).put("expr", "port-unreachable");
      if (family.equals("inet")) {
        // A marker for Kernel, which types a bare inet reject by the rule's network protocol.
        r.put("svcproxy-bare", true);
      }
    }
    ObjectNode o = F.objectNode();
    o.set("reject", r);
    return o;
  }

  private static final Set<String> NAT_FLAGS = Set.of("random", "fully-random", "persistent");

  private JsonNode nat(String kind) {
    ObjectNode n = F.objectNode();
    if (at("ip") || at("ip6")) {
      n.put("family", word());
    }
    if (at("to") && startsExpression(peek(1), peek(2))) {
      p++;
      n.set("addr", expr());
    } else if (at("to")) {
      p++;
      String target = word();
      String addr = target;
      String port = null;
      if (target.startsWith("[")) {
        int close = target.indexOf(']');
        addr = target.substring(1, close);
        if (close + 1 < target.length() && target.charAt(close + 1) == ':') {
          port = target.substring(close + 2);
        }
      } else if (target.startsWith(":")) {
        addr = null;
        port = target.substring(1);
      } else if (target.indexOf(':') >= 0 && target.indexOf(':') == target.lastIndexOf(':')) {
        addr = target.substring(0, target.indexOf(':'));
        port = target.substring(target.indexOf(':') + 1);
      }
      if (addr != null) {
        if (kind.equals("masquerade") || kind.equals("redirect")) {
          throw new Unknown(kind + " to an address");
        }
        n.set("addr", literal(addr));
      }
      if (port != null) {
        n.set("port", literal(port));
      }
    }
    List<String> flags = new ArrayList<>();
    while (!atEnd() && peek().kind() == Kind.WORD && NAT_FLAGS.contains(peek().text())) {
      flags.add(word());
      if (at(",")) {
        p++;
      }
    }
    if (!flags.isEmpty()) {
      if (flags.size() == 1) {
        n.put("flags", flags.get(0));
      } else {
        ArrayNode a = n.putArray("flags");
        flags.forEach(a::add);
      }
    }
    ObjectNode o = F.objectNode();
    if (n.isEmpty()) {
      o.putNull(kind);
    } else {
      o.set(kind, n);
    }
    return o;
  }

  /** True when {@code a b} start an expression rather than an address literal. */
  private static boolean startsExpression(Token a, Token b) {
    if (a.kind() != Kind.WORD) {
      return false;
    }
    String w = a.text();
    return (FIELDS.containsKey(w) && b.kind() == Kind.WORD && FIELDS.get(w).contains(b.text()))
        || Set.of("meta", "ct", "numgen", "jhash", "symhash").contains(w);
  }

  private JsonNode setStatement(String op) {
    expect("@");
    String set = "@" + word();
    expect("{");
    JsonNode elem = expr();
    ObjectNode wrapped = null;
    while (at("timeout") || at("expires") || at("comment")) {
      if (wrapped == null) {
        wrapped = F.objectNode();
        wrapped.putObject("elem").set("val", elem);
      }
      String k = word();
      ObjectNode e = (ObjectNode) wrapped.get("elem");
      if (k.equals("comment")) {
        e.put("comment", next().text());
      } else {
        e.put(k, Times.seconds(word()));
      }
    }
    expect("}");
    ObjectNode s = F.objectNode();
    s.putObject("set")
        .put("op", op)
        .<ObjectNode>set("elem", wrapped != null ? wrapped : elem)
        .put("set", set);
    return s;
  }

  private JsonNode exprStatement() {
    JsonNode left = expr();
    if (!isExpression(left)) {
      throw new Unknown("not an expression");
    }
    if (at("set")) {
      p++;
      JsonNode value = expr();
      ObjectNode m = F.objectNode();
      m.putObject("mangle").<ObjectNode>set("key", left).set("value", value);
      return m;
    }
    if (at("vmap")) {
      p++;
      JsonNode data = rhs(left);
      ObjectNode v = F.objectNode();
      v.putObject("vmap").<ObjectNode>set("key", left).set("data", data);
      return v;
    }
    if (atEnd()) {
      throw new Unknown("expression without a value");
    }
    String op = null;
    if (peek().kind() == Kind.WORD && RELATIONAL.contains(peek().text())) {
      op = relational(word());
    }
    if (atEnd() || peek().kind() == Kind.HANDLE) {
      throw new Unknown("expression without a value");
    }
    JsonNode right = rhs(left);
    if (at("/")) {
      p++;
      JsonNode mask = rhs(left);
      ObjectNode and = F.objectNode();
      and.putArray("&").add(left).add(mask);
      left = and;
      op = op == null ? "==" : op;
    }
    if (op == null) {
      boolean flagType = isFlagType(left);
      op = flagType && !right.isObject() && !isSetRef(right) ? "in" : "==";
    }
    ObjectNode m = F.objectNode();
    m.putObject("match").put("op", op).<ObjectNode>set("left", left).set("right", right);
    return m;
  }

  private static String relational(String op) {
    return switch (op) {
      case "eq" -> "==";
      case "ne" -> "!=";
      case "lt" -> "<";
      case "gt" -> ">";
      case "le" -> "<=";
      case "ge" -> ">=";
      default -> op;
    };
  }

  private static boolean isSetRef(JsonNode n) {
    return n.isTextual() && n.asText().startsWith("@");
  }

  private static boolean isFlagType(JsonNode left) {
    JsonNode ct = left.get("ct");
    if (ct != null) {
      String k = ct.path("key").asText();
      return k.equals("state") || k.equals("status") || k.equals("event");
    }
    JsonNode pl = left.get("payload");
    return pl != null
        && pl.path("protocol").asText().equals("tcp")
        && pl.path("field").asText().equals("flags");
  }

  private static boolean isExpression(JsonNode n) {
    if (!n.isObject()) {
      return false;
    }
    String k = n.fieldNames().next();
    return Set.of("payload", "meta", "ct", "fib", "numgen", "concat", "&", "|", "^", "<<", ">>")
        .contains(k);
  }

  // ---- expressions

  /** A value or expression on the right: a set reference, a set, a list or a concatenation. */
  private JsonNode rhs(JsonNode left) {
    JsonNode first = expr();
    if (at(",")) {
      ArrayNode list = F.arrayNode().add(first);
      while (at(",")) {
        p++;
        list.add(expr());
      }
      return Kernel.sortFlags(list);
    }
    return fix(left, first);
  }

  /** Values whose JSON depends on the key: fib's exists/missing are booleans. */
  private static JsonNode fix(JsonNode left, JsonNode right) {
    if (left.has("fib") && right.isTextual()) {
      if (right.asText().equals("exists")) {
        return F.booleanNode(true);
      }
      if (right.asText().equals("missing")) {
        return F.booleanNode(false);
      }
    }
    return right;
  }

  /** A concatenation of binary-operator expressions. */
  JsonNode expr() {
    JsonNode first = binop();
    JsonNode e = first;
    if (at(".")) {
      ArrayNode parts = F.arrayNode().add(first);
      while (at(".")) {
        p++;
        parts.add(binop());
      }
      ObjectNode c = F.objectNode();
      c.set("concat", parts);
      e = c;
    }
    if (at("map") && isExpression(e)) {
      p++;
      JsonNode data = primary();
      ObjectNode m = F.objectNode();
      m.putObject("map").<ObjectNode>set("key", e).set("data", data);
      return m;
    }
    return e;
  }

  private JsonNode binop() {
    JsonNode left = primary();
    while ((peek().kind() == Kind.WORD || peek().is("|")) && BINOP.containsKey(peek().text())) {
      String op = BINOP.get(next().text());
      JsonNode right = primary();
      if (op.equals("|") && isFlagList(left) && isFlagList(right)) {
        ArrayNode flags = F.arrayNode();
        for (JsonNode side : List.of(left, right)) {
          if (side.isArray()) {
            flags.addAll((ArrayNode) side);
          } else {
            flags.add(side);
          }
        }
        left = Kernel.sortFlags(flags);
        continue;
      }
      ObjectNode o = F.objectNode();
      o.putArray(op).add(left).add(right);
      left = o;
    }
    return left;
  }

  /** A flag name or a list of them, as {@code syn | ack} joins: nft prints those as a list. */
  private static boolean isFlagList(JsonNode n) {
    if (n.isArray()) {
      return true;
    }
    return n.isTextual() && !n.asText().startsWith("@") && Kernel.isFlag(n.asText());
  }

  private JsonNode primary() {
    Token t = next();
    if (t.kind() == Kind.STRING) {
      return F.textNode(t.text());
    }
    if (t.is("@")) {
      return F.textNode("@" + word());
    }
    if (t.is("{")) {
      return anonSet();
    }
    if (t.is("(")) {
      JsonNode e = expr();
      expect(")");
      return e;
    }
    if (t.kind() != Kind.WORD) {
      throw new Unknown("unexpected " + t.text());
    }
    String w = t.text();
    if (FIELDS.containsKey(w)
        && peek().kind() == Kind.WORD
        && FIELDS.get(w).contains(peek().text())) {
      ObjectNode o = F.objectNode();
      o.putObject("payload").put("protocol", w).put("field", word());
      return o;
    }
    if (w.equals("meta")) {
      ObjectNode o = F.objectNode();
      o.putObject("meta").put("key", word());
      return o;
    }
    if (BARE_META.contains(w)) {
      ObjectNode o = F.objectNode();
      o.putObject("meta").put("key", w);
      return o;
    }
    if (w.equals("ct")) {
      ObjectNode ct = F.objectNode();
      String k = word();
      if (k.equals("original") || k.equals("reply")) {
        String key = word();
        if (key.equals("ip") || key.equals("ip6")) {
          // nft's JSON keeps the family in the key: {"key": "ip saddr", "dir": "original"}.
          key = key + " " + word();
        }
        ct.put("key", key).put("dir", k);
      } else {
        ct.put("key", k);
      }
      ObjectNode o = F.objectNode();
      o.set("ct", ct);
      return o;
    }
    if (w.equals("fib")) {
      List<String> flags = new ArrayList<>();
      flags.add(word());
      while (at(".") && peek(1).kind() == Kind.WORD && FIB_FLAGS.contains(peek(1).text())) {
        p++;
        flags.add(word());
      }
      String result = word();
      if (!Set.of("type", "oif", "oifname").contains(result)) {
        throw new Unknown("fib " + result);
      }
      ObjectNode o = F.objectNode();
      ArrayNode fl = o.putObject("fib").put("result", result).putArray("flags");
      FIB_FLAG_ORDER.stream().filter(flags::contains).forEach(fl::add);
      return o;
    }
    if (w.equals("numgen")) {
      String mode = word();
      expect("mod");
      long mod = number(word());
      long offset = 0;
      if (at("offset")) {
        p++;
        offset = number(word());
      }
      ObjectNode o = F.objectNode();
      o.putObject("numgen").put("mode", mode).put("mod", mod).put("offset", offset);
      return o;
    }
    if (Set.of("jhash", "symhash", "osf", "socket", "rt", "exthdr", "tcp option", "ipsec", "hash")
        .contains(w)) {
      throw new Unknown(w);
    }
    return literal(w);
  }

  private JsonNode anonSet() {
    ArrayNode elems = F.arrayNode();
    skipNewlines();
    while (!at("}")) {
      elems.add(element());
      skipNewlines();
      if (at(",")) {
        p++;
        skipNewlines();
      } else if (!at("}")) {
        throw new Unknown("expected , or }");
      }
    }
    p++;
    ObjectNode s = F.objectNode();
    s.set("set", elems);
    return s;
  }

  /** One element of a set or map: key [timeout T] [expires T] [comment "c"] [: value]. */
  JsonNode element() {
    JsonNode key = expr();
    ObjectNode wrapped = null;
    while (at("timeout") || at("expires") || at("comment") || at("counter")) {
      if (wrapped == null) {
        wrapped = F.objectNode();
        wrapped.putObject("elem").set("val", key);
      }
      ObjectNode e = (ObjectNode) wrapped.get("elem");
      String k = word();
      if (k.equals("comment")) {
        e.put("comment", next().text());
      } else if (k.equals("counter")) {
        ObjectNode c = e.putObject("counter");
        if (at("packets")) {
          p++;
          c.put("packets", Long.parseLong(word()));
          expect("bytes");
          c.put("bytes", Long.parseLong(word()));
        } else {
          c.put("packets", 0).put("bytes", 0);
        }
      } else {
        e.put(k, Times.seconds(word()));
      }
    }
    JsonNode k = wrapped != null ? wrapped : key;
    if (at(":")) {
      p++;
      JsonNode value = mapValue();
      return F.arrayNode().add(k).add(value);
    }
    return k;
  }

  /** This parser's tokens as one set element; the raw text when they are not one. */
  JsonNode elementOrUnparsed() {
    p = 0;
    try {
      JsonNode e = element();
      if (!atEnd()) {
        throw new Unknown("trailing tokens");
      }
      return e;
    } catch (RuntimeException e) {
      String raw = src.substring(toks.get(0).start(), toks.get(toks.size() - 1).end());
      return F.objectNode().put("svcproxy-unparsed", raw);
    }
  }

  private JsonNode mapValue() {
    Token t = peek();
    if (t.kind() == Kind.WORD) {
      switch (t.text()) {
        case "accept", "drop", "return", "continue" -> {
          p++;
          return F.objectNode().putNull(t.text());
        }
        case "jump", "goto" -> {
          p++;
          ObjectNode o = F.objectNode();
          o.putObject(t.text()).put("target", word());
          return o;
        }
        default -> {}
      }
    }
    return expr();
  }

  private static long number(String s) {
    if (HEX.matcher(s).matches()) {
      return Long.parseLong(s.substring(2), 16);
    }
    if (DEC.matcher(s).matches()) {
      return Long.parseLong(s);
    }
    throw new Unknown("not a number: " + s);
  }

  /** A bare word as JSON: numbers as numbers, prefixes and ranges as objects, the rest as text. */
  static JsonNode literal(String w) {
    if (DEC.matcher(w).matches() && w.length() < 19) {
      return F.numberNode(Long.parseLong(w));
    }
    if (HEX.matcher(w).matches() && w.length() <= 18) {
      return F.numberNode(Long.parseUnsignedLong(w.substring(2), 16));
    }
    int slash = w.lastIndexOf('/');
    if (slash > 0
        && isAddress(w.substring(0, slash))
        && DEC.matcher(w.substring(slash + 1)).matches()) {
      ObjectNode o = F.objectNode();
      o.putObject("prefix")
          .put("addr", w.substring(0, slash))
          .put("len", Long.parseLong(w.substring(slash + 1)));
      return o;
    }
    int dash = w.indexOf('-');
    if (dash > 0 && dash == w.lastIndexOf('-')) {
      String a = w.substring(0, dash);
      String b = w.substring(dash + 1);
      if ((DEC.matcher(a).matches() && DEC.matcher(b).matches())
          || (isAddress(a) && isAddress(b))) {
        ObjectNode o = F.objectNode();
        o.putArray("range").add(literal(a)).add(literal(b));
        return o;
      }
    }
    return F.textNode(w);
  }

  private static boolean isAddress(String s) {
    return IPV4.matcher(s).matches() || (s.contains(":") && IPV6.matcher(s).matches());
  }
}
