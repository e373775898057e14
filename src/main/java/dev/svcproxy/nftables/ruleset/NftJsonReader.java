package dev.svcproxy.nftables.ruleset;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads {@code nft -j list ruleset} output (libnftables-json(5), as nft 1.0.6 prints it) into a
 * {@link Ruleset}. Statements and expressions it does not model are kept as their JSON (the
 * evaluator reports their rules as not evaluated); structural errors name the file and the JSON
 * path of the object at fault.
 */
public final class NftJsonReader {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String file;

  private NftJsonReader(String file) {
    this.file = file;
  }

  /** Parses {@code json} read from {@code file} (the name is only for messages). */
  public static Ruleset read(String json, String file) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          file + ": not JSON: " + e.getOriginalMessage() + " at " + e.getLocation(), e);
    }
    return read(root, file);
  }

  /** Reads an already parsed tree (the text converter's output, for one). */
  public static Ruleset read(JsonNode root, String file) {
    return new NftJsonReader(file).ruleset(root);
  }

  private IllegalArgumentException error(String path, String what) {
    return new IllegalArgumentException(file + ": " + path + ": " + what);
  }

  private static final class TableBuilder {
    final String family;
    final String name;
    final long handle;
    final Map<String, Object[]> chains = new LinkedHashMap<>();
    final List<Ruleset.NamedSet> sets = new ArrayList<>();

    TableBuilder(String family, String name, long handle) {
      this.family = family;
      this.name = name;
      this.handle = handle;
    }
  }

  private Ruleset ruleset(JsonNode root) {
    JsonNode list = root == null ? null : root.get("nftables");
    if (list == null || !list.isArray()) {
      throw error("$", "no \"nftables\" array (is this `nft -j list ruleset` output?)");
    }
    Map<String, TableBuilder> tables = new LinkedHashMap<>();
    // Chains and their rules, keyed by table then chain, in the order nft lists them.
    Map<String, Map<String, List<Ruleset.Rule>>> rules = new LinkedHashMap<>();
    for (int i = 0; i < list.size(); i++) {
      JsonNode o = list.get(i);
      String path = "$.nftables[" + i + "]";
      if (!o.isObject() || o.size() != 1) {
        throw error(path, "expected an object with one key, got " + abbreviate(o));
      }
      String kind = o.fieldNames().next();
      JsonNode v = o.get(kind);
      String p = path + "." + kind;
      switch (kind) {
        case "table" -> {
          String key = text(v, "family", p) + " " + text(v, "name", p);
          tables.put(
              key,
              new TableBuilder(
                  text(v, "family", p), text(v, "name", p), v.path("handle").asLong()));
          rules.put(key, new LinkedHashMap<>());
        }
        case "chain" -> {
          TableBuilder t = table(tables, v, p);
          String name = text(v, "name", p);
          t.chains.put(name, new Object[] {v, p});
          rules.get(t.family + " " + t.name).putIfAbsent(name, new ArrayList<>());
        }
        case "rule" -> {
          TableBuilder t = table(tables, v, p);
          String chain = text(v, "chain", p);
          List<Ruleset.Rule> rs = rules.get(t.family + " " + t.name).get(chain);
          if (rs == null) {
            throw error(p, "rule of chain " + chain + ", which is not declared before it");
          }
          rs.add(rule(v, p));
        }
        case "set", "map" -> table(tables, v, p).sets.add(set(v, p, kind.equals("map")));
        case "element" -> {
          TableBuilder t = table(tables, v, p);
          String name = text(v, "name", p);
          int at = -1;
          for (int k = 0; k < t.sets.size(); k++) {
            if (t.sets.get(k).name().equals(name)) {
              at = k;
            }
          }
          if (at < 0) {
            throw error(p, "elements of set " + name + ", which is not declared before them");
          }
          Ruleset.NamedSet s = t.sets.get(at);
          List<Ruleset.Element> els = new ArrayList<>(s.elements());
          els.addAll(elements(v.path("elem"), p + ".elem", s.isMap()));
          t.sets.set(
              at,
              new Ruleset.NamedSet(
                  s.name(),
                  s.handle(),
                  s.type(),
                  s.map(),
                  s.flags(),
                  s.timeout(),
                  s.comment(),
                  els));
        }
        default -> {
          // metainfo, flowtables, stateful objects (counter, quota, ct helper, ...): nothing
          // the packet path depends on here.
        }
      }
    }
    List<Ruleset.Table> out = new ArrayList<>();
    for (Map.Entry<String, TableBuilder> e : tables.entrySet()) {
      TableBuilder t = e.getValue();
      List<Ruleset.Chain> chains = new ArrayList<>();
      for (Map.Entry<String, Object[]> c : t.chains.entrySet()) {
        chains.add(
            chain(
                (JsonNode) c.getValue()[0],
                (String) c.getValue()[1],
                t.family,
                rules.get(e.getKey()).get(c.getKey())));
      }
      out.add(new Ruleset.Table(t.family, t.name, t.handle, chains, t.sets));
    }
    return new Ruleset(out);
  }

  private TableBuilder table(Map<String, TableBuilder> tables, JsonNode v, String p) {
    String key = text(v, "family", p) + " " + text(v, "table", p);
    TableBuilder t = tables.get(key);
    if (t == null) {
      throw error(p, "table " + key + " is not declared before it");
    }
    return t;
  }

  private Ruleset.Chain chain(JsonNode v, String p, String family, List<Ruleset.Rule> rules) {
    String hook = v.hasNonNull("hook") ? v.get("hook").asText() : null;
    Integer prio = null;
    if (hook != null) {
      JsonNode pr = v.get("prio");
      if (pr == null) {
        throw error(p, "base chain " + text(v, "name", p) + " has no \"prio\"");
      }
      prio = pr.isNumber() ? Integer.valueOf(pr.asInt()) : priority(pr.asText(), family, p);
    }
    return new Ruleset.Chain(
        text(v, "name", p),
        v.path("handle").asLong(),
        hook == null ? null : v.path("type").asText("filter"),
        hook,
        prio,
        hook == null ? null : v.path("policy").asText("accept"),
        v.hasNonNull("comment") ? v.get("comment").asText() : null,
        rules);
  }

  /**
   * A named priority (nft(8) "CHAINS", table of standard priority names) with an optional offset,
   * for the families that see IPv4 and IPv6 alike (ip, ip6, inet).
   */
  private int priority(String s, String family, String p) {
    String t = s.replace(" ", "");
    int sign = 0;
    int at = Math.max(t.indexOf('+'), t.indexOf('-', 1));
    String name = t;
    int offset = 0;
    if (at > 0) {
      name = t.substring(0, at);
      sign = t.charAt(at) == '+' ? 1 : -1;
      offset = sign * Integer.parseInt(t.substring(at + 1));
    }
    int base =
        switch (name) {
          case "raw" -> -300;
          case "mangle" -> -150;
          case "dstnat" -> family.equals("bridge") ? -300 : -100;
          case "filter" -> family.equals("bridge") ? -200 : 0;
          case "security" -> 50;
          case "srcnat" -> family.equals("bridge") ? 300 : 100;
          case "out" -> 100;
          default -> {
            try {
              yield Integer.parseInt(name);
            } catch (NumberFormatException e) {
              throw error(p, "unknown chain priority \"" + s + "\"");
            }
          }
        };
    return base + offset;
  }

  private Ruleset.Rule rule(JsonNode v, String p) {
    JsonNode expr = v.get("expr");
    if (expr == null || !expr.isArray()) {
      throw error(p, "rule has no \"expr\" array");
    }
    List<Stmt> stmts = new ArrayList<>();
    for (int i = 0; i < expr.size(); i++) {
      stmts.add(stmt(expr.get(i), p + ".expr[" + i + "]"));
    }
    return new Ruleset.Rule(
        v.path("handle").asLong(),
        v.hasNonNull("comment") ? v.get("comment").asText() : null,
        stmts);
  }

  private Ruleset.NamedSet set(JsonNode v, String p, boolean isMap) {
    JsonNode type = v.get("type");
    List<String> types = new ArrayList<>();
    if (type == null) {
      throw error(p, "set " + v.path("name").asText() + " has no \"type\"");
    } else if (type.isArray()) {
      type.forEach(x -> types.add(x.asText()));
    } else {
      types.add(type.asText());
    }
    List<String> flags = new ArrayList<>();
    JsonNode f = v.get("flags");
    if (f != null && f.isArray()) {
      f.forEach(x -> flags.add(x.asText()));
    } else if (f != null) {
      flags.add(f.asText());
    }
    String map = isMap ? v.path("map").asText(null) : null;
    if (isMap && map == null) {
      throw error(p, "map " + v.path("name").asText() + " has no data type (\"map\")");
    }
    return new Ruleset.NamedSet(
        text(v, "name", p),
        v.path("handle").asLong(),
        types,
        map,
        flags,
        v.hasNonNull("timeout") ? v.get("timeout").asLong() : null,
        v.hasNonNull("comment") ? v.get("comment").asText() : null,
        elements(v.get("elem"), p + ".elem", isMap));
  }

  private List<Ruleset.Element> elements(JsonNode elem, String p, boolean isMap) {
    List<Ruleset.Element> out = new ArrayList<>();
    if (elem == null || elem.isNull()) {
      return out;
    }
    if (!elem.isArray()) {
      throw error(p, "expected an array of elements");
    }
    for (int i = 0; i < elem.size(); i++) {
      out.add(element(elem.get(i), p + "[" + i + "]", isMap));
    }
    return out;
  }

  /** One element: a key, or {@code [key, value]} in a map; the key may carry its options. */
  private Ruleset.Element element(JsonNode e, String p, boolean isMap) {
    JsonNode key = e;
    Expr value = null;
    if (isMap) {
      if (!e.isArray() || e.size() != 2) {
        throw error(p, "a map element must be [key, value], got " + abbreviate(e));
      }
      key = e.get(0);
      value = expr(e.get(1), p + "[1]");
    }
    Long timeout = null;
    Long expires = null;
    String comment = null;
    if (key.isObject() && key.has("elem")) {
      JsonNode o = key.get("elem");
      timeout = o.hasNonNull("timeout") ? o.get("timeout").asLong() : null;
      expires = o.hasNonNull("expires") ? o.get("expires").asLong() : null;
      comment = o.hasNonNull("comment") ? o.get("comment").asText() : null;
      key = o.get("val");
      if (key == null) {
        throw error(p, "element without \"val\"");
      }
    }
    return new Ruleset.Element(expr(key, p), value, timeout, expires, comment);
  }

  private Stmt stmt(JsonNode s, String p) {
    if (!s.isObject() || s.size() != 1) {
      throw error(p, "expected a statement object with one key, got " + abbreviate(s));
    }
    String kind = s.fieldNames().next();
    JsonNode v = s.get(kind);
    String q = p + "." + kind;
    return switch (kind) {
      case "match" ->
          new Stmt.Match(
              v.path("op").asText("=="),
              expr(need(v, "left", q), q + ".left"),
              expr(need(v, "right", q), q + ".right"));
      case "accept", "drop", "continue", "return" -> new Stmt.Verdict(kind, null);
      case "jump", "goto" -> new Stmt.Verdict(kind, text(v, "target", q));
      case "vmap" ->
          new Stmt.VerdictMap(
              expr(need(v, "key", q), q + ".key"), expr(need(v, "data", q), q + ".data"));
      case "mangle" ->
          new Stmt.Mangle(
              expr(need(v, "key", q), q + ".key"), expr(need(v, "value", q), q + ".value"));
      case "snat", "dnat", "masquerade", "redirect" -> {
        List<String> flags = new ArrayList<>();
        JsonNode f = v == null ? null : v.get("flags");
        if (f != null && f.isArray()) {
          f.forEach(x -> flags.add(x.asText()));
        } else if (f != null && !f.isNull()) {
          flags.add(f.asText());
        }
        Expr addr = v != null && v.hasNonNull("addr") ? expr(v.get("addr"), q + ".addr") : null;
        Expr port = v != null && v.hasNonNull("port") ? expr(v.get("port"), q + ".port") : null;
        yield new Stmt.Nat(kind, addr, port, flags);
      }
      case "reject" ->
          new Stmt.Reject(
              v != null && v.hasNonNull("type") ? v.get("type").asText() : null,
              v != null && v.hasNonNull("expr") ? v.get("expr").asText() : null);
      case "counter", "log", "limit", "quota", "ct count" -> new Stmt.Passive(kind, s.toString());
      case "notrack" -> new Stmt.Notrack();
      case "set" ->
          new Stmt.SetUpdate(
              v.path("op").asText(),
              expr(need(v, "elem", q), q + ".elem"),
              text(v, "set", q).replaceFirst("^@", ""));
      default -> new Stmt.Unknown(kind, s.toString());
    };
  }

  private JsonNode need(JsonNode v, String field, String p) {
    JsonNode x = v == null ? null : v.get(field);
    if (x == null) {
      throw error(p, "missing \"" + field + "\"");
    }
    return x;
  }

  private Expr expr(JsonNode e, String p) {
    if (e.isTextual()) {
      String s = e.asText();
      return s.startsWith("@") ? new Expr.SetRef(s.substring(1)) : Expr.Literal.of(s);
    }
    if (e.isIntegralNumber()) {
      return Expr.Literal.of(e.asLong());
    }
    if (e.isBoolean()) {
      return Expr.Literal.of(e.asText());
    }
    if (e.isArray()) {
      List<String> vals = new ArrayList<>();
      for (JsonNode x : e) {
        if (!x.isValueNode()) {
          return new Expr.Unknown("list", e.toString());
        }
        vals.add(x.asText());
      }
      return new Expr.Flags(vals);
    }
    if (!e.isObject() || e.size() != 1) {
      return new Expr.Unknown("?", e.toString());
    }
    String kind = e.fieldNames().next();
    JsonNode v = e.get(kind);
    String q = p + "." + kind;
    return switch (kind) {
      case "payload" ->
          v.has("protocol")
              ? new Expr.Payload(v.get("protocol").asText(), v.path("field").asText())
              : new Expr.Unknown(kind, e.toString());
      case "meta" -> new Expr.Meta(text(v, "key", q));
      case "ct" ->
          new Expr.Ct(text(v, "key", q), v.hasNonNull("dir") ? v.get("dir").asText() : null);
      case "fib" -> {
        List<String> flags = new ArrayList<>();
        JsonNode f = v.get("flags");
        if (f != null && f.isArray()) {
          f.forEach(x -> flags.add(x.asText()));
        } else if (f != null) {
          flags.add(f.asText());
        }
        yield new Expr.Fib(text(v, "result", q), flags);
      }
      case "numgen" ->
          new Expr.Numgen(
              v.path("mode").asText(), v.path("mod").asLong(), v.path("offset").asLong(0));
      case "concat" -> {
        List<Expr> parts = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
          parts.add(expr(v.get(i), q + "[" + i + "]"));
        }
        yield new Expr.Concat(parts);
      }
      case "prefix" -> new Expr.Prefix(text(v, "addr", q), v.path("len").asInt());
      case "range" -> {
        if (!v.isArray() || v.size() != 2) {
          throw error(q, "a range must be [lo, hi]");
        }
        yield new Expr.Range(expr(v.get(0), q + "[0]"), expr(v.get(1), q + "[1]"));
      }
      case "set" -> {
        List<Ruleset.Element> els = new ArrayList<>();
        if (v.isArray()) {
          for (int i = 0; i < v.size(); i++) {
            JsonNode x = v.get(i);
            boolean pair = x.isArray() && x.size() == 2;
            els.add(element(x, q + "[" + i + "]", pair));
          }
        } else {
          els.add(element(v, q, false));
        }
        yield new Expr.AnonSet(els);
      }
      case "&", "|", "^", "<<", ">>" -> {
        if (!v.isArray() || v.size() != 2) {
          yield new Expr.Unknown(kind, e.toString());
        }
        yield new Expr.Binary(kind, expr(v.get(0), q + "[0]"), expr(v.get(1), q + "[1]"));
      }
      case "accept", "drop", "continue", "return" -> new Expr.VerdictExpr(kind, null);
      case "jump", "goto" -> new Expr.VerdictExpr(kind, text(v, "target", q));
      default -> new Expr.Unknown(kind, e.toString());
    };
  }

  private String text(JsonNode v, String field, String p) {
    JsonNode x = v == null ? null : v.get(field);
    if (x == null || x.isNull() || x.isContainerNode()) {
      throw error(p, "missing \"" + field + "\"");
    }
    return x.asText();
  }

  private static String abbreviate(JsonNode n) {
    String s = String.valueOf(n);
    return s.length() > 80 ? s.substring(0, 77) + "..." : s;
  }
}
