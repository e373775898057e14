package dev.svcproxy.kernel;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.nftables.NftElement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Prints the rules and elements of {@code nft -j} output as {@code nft list} prints them, for the
 * statements kube-proxy's table uses. Anything else prints as "?" followed by its JSON, which no
 * rendered rule equals: a chain holding it is then rewritten, never wrongly taken as unchanged.
 */
final class NftJson {
  private NftJson() {}

  /** Meta keys nft prints without the "meta" prefix. */
  private static final Set<String> BARE_META =
      Set.of("iif", "oif", "iifname", "oifname", "iiftype", "oiftype", "skuid", "skgid");

  private static final Set<String> VERDICTS = Set.of("accept", "drop", "return", "continue");

  private static final Map<String, String> BINOPS = Map.of("&", "&", "|", "|", "^", "^");

  /** A rule's statements as nft prints them, then {@code comment "..."} if it has one. */
  static String rule(JsonNode rule) {
    List<String> parts = new ArrayList<>();
    for (JsonNode stmt : rule.path("expr")) {
      parts.add(statement(stmt));
    }
    String s = String.join(" ", parts);
    if (rule.has("comment")) {
      s = s + " comment \"" + rule.get("comment").asText() + "\"";
    }
    return s;
  }

  /** A set's or map's key type: "ipv4_addr" or, concatenated, "ipv4_addr . inet_proto". */
  static String type(JsonNode t) {
    if (t == null) {
      return "";
    }
    if (t.isArray()) {
      List<String> parts = new ArrayList<>();
      t.forEach(x -> parts.add(x.asText()));
      return String.join(" . ", parts);
    }
    return t.asText();
  }

  /** One element of a set ({@code map} false) or map, as the model holds it. */
  static NftElement element(String set, JsonNode e, boolean map) {
    JsonNode key = map && e.isArray() ? e.get(0) : e;
    JsonNode value = map && e.isArray() ? e.get(1) : null;
    String comment = "";
    if (key.has("elem")) {
      JsonNode inner = key.get("elem");
      comment = inner.path("comment").asText("");
      key = inner.get("val");
    }
    List<String> keyParts = new ArrayList<>();
    if (key.has("concat")) {
      key.get("concat").forEach(k -> keyParts.add(value(k, false)));
    } else {
      keyParts.add(value(key, false));
    }
    List<String> valueParts = new ArrayList<>();
    if (value != null) {
      if (value.has("concat")) {
        value.get("concat").forEach(v -> valueParts.add(value(v, false)));
      } else {
        valueParts.add(statement(value));
      }
    }
    return new NftElement(set, keyParts, valueParts, comment);
  }

  private static String statement(JsonNode s) {
    if (!s.isObject() || s.size() != 1) {
      return unknown(s);
    }
    String kind = s.fieldNames().next();
    JsonNode v = s.get(kind);
    switch (kind) {
      case "match":
        return match(v);
      case "jump":
      case "goto":
        return kind + " " + v.path("target").asText();
      case "mangle":
        return expr(v.get("key"), false) + " set " + expr(v.get("value"), isMark(v.get("key")));
      case "vmap":
        return expr(v.get("key"), false) + " vmap " + setOrRef(v.get("data"), false);
      case "masquerade":
        return v == null || v.isNull() ? "masquerade" : "masquerade" + flags(v.path("flags"));
      case "dnat":
      case "snat":
        return nat(kind, v);
      case "reject":
        if (v == null
            || v.isNull()
            || v.path("type").asText().equals("icmp")
                && v.path("expr").asText().equals("port-unreachable")) {
          return "reject";
        }
        return unknown(s);
      case "set":
        if (v.path("op").asText().equals("update") || v.path("op").asText().equals("add")) {
          return v.get("op").asText()
              + " "
              + v.path("set").asText()
              + " { "
              + expr(v.get("elem"), false)
              + " }";
        }
        return unknown(s);
      default:
        if (VERDICTS.contains(kind)) {
          return kind;
        }
        return unknown(s);
    }
  }

  private static String match(JsonNode m) {
    JsonNode left = m.get("left");
    boolean mark = isMark(left);
    String op = m.path("op").asText();
    String l = expr(left, mark);
    String r = expr(m.get("right"), mark || isMarkBinop(left));
    boolean binop = left.isObject() && left.size() == 1 && BINOPS.containsKey(firstName(left));
    return switch (op) {
      case "==" -> binop ? l + " == " + r : l + " " + r;
      case "in" -> l + " " + r;
      default -> l + " " + op + " " + r;
    };
  }

  private static String nat(String kind, JsonNode v) {
    StringBuilder sb = new StringBuilder(kind).append(" to ");
    if (v.has("addr")) {
      sb.append(expr(v.get("addr"), false));
    }
    if (v.has("port")) {
      sb.append(':').append(expr(v.get("port"), false));
    }
    if (v.has("flags")) {
      sb.append(flags(v.get("flags")));
    }
    return sb.toString();
  }

  private static String flags(JsonNode f) {
    if (f.isMissingNode() || f.isNull()) {
      return "";
    }
    if (f.isArray()) {
      List<String> parts = new ArrayList<>();
      f.forEach(x -> parts.add(x.asText()));
      return " " + String.join(",", parts);
    }
    return " " + f.asText();
  }

  private static String setOrRef(JsonNode d, boolean mark) {
    if (d.isTextual()) {
      return d.asText();
    }
    return expr(d, mark);
  }

  /** An expression: payload, meta, fib, ct, numgen, concat, prefix, set, binop or a constant. */
  private static String expr(JsonNode e, boolean mark) {
    if (e == null || e.isNull()) {
      return unknown(e);
    }
    if (e.isTextual()) {
      return e.asText();
    }
    if (e.isNumber()) {
      return mark ? String.format("0x%08x", e.asLong()) : e.asText();
    }
    if (e.isArray()) {
      // A list constant (ct state new,established).
      List<String> parts = new ArrayList<>();
      e.forEach(x -> parts.add(expr(x, mark)));
      return String.join(",", parts);
    }
    if (e.size() != 1) {
      return unknown(e);
    }
    String kind = firstName(e);
    JsonNode v = e.get(kind);
    switch (kind) {
      case "payload":
        return v.path("protocol").asText() + " " + v.path("field").asText();
      case "meta":
        String key = v.path("key").asText();
        return BARE_META.contains(key) ? key : "meta " + key;
      case "ct":
        return "ct " + v.path("key").asText();
      case "fib":
        List<String> fl = new ArrayList<>();
        v.path("flags").forEach(x -> fl.add(x.asText()));
        if (v.path("flags").isTextual()) {
          fl.add(v.get("flags").asText());
        }
        return "fib " + String.join(" . ", fl) + " " + v.path("result").asText();
      case "numgen":
        return "numgen "
            + v.path("mode").asText()
            + " mod "
            + v.path("mod").asText()
            + (v.path("offset").asLong() != 0 ? " offset " + v.path("offset").asText() : "");
      case "concat":
        List<String> parts = new ArrayList<>();
        v.forEach(x -> parts.add(expr(x, false)));
        return String.join(" . ", parts);
      case "prefix":
        return v.path("addr").asText() + "/" + v.path("len").asText();
      case "range":
        return expr(v.get(0), mark) + "-" + expr(v.get(1), mark);
      case "set":
        List<String> elems = new ArrayList<>();
        for (JsonNode x : v) {
          if (x.isArray() && x.size() == 2) {
            elems.add(expr(x.get(0), mark) + " : " + statement(x.get(1)));
          } else {
            elems.add(expr(x, mark));
          }
        }
        return "{ " + String.join(", ", elems) + " }";
      case "&":
      case "|":
      case "^":
        boolean m = mark || isMark(v.get(0));
        return expr(v.get(0), m) + " " + kind + " " + expr(v.get(1), m);
      default:
        if (VERDICTS.contains(kind) || kind.equals("jump") || kind.equals("goto")) {
          return statement(e);
        }
        return unknown(e);
    }
  }

  private static boolean isMark(JsonNode e) {
    return e != null
        && e.isObject()
        && (e.path("meta").path("key").asText().equals("mark")
            || e.path("ct").path("key").asText().equals("mark"));
  }

  private static boolean isMarkBinop(JsonNode e) {
    if (e == null || !e.isObject() || e.size() != 1) {
      return false;
    }
    String k = firstName(e);
    return BINOPS.containsKey(k) && isMark(e.get(k).get(0));
  }

  /** Marks values in an element or a value position that isn't a statement. */
  static String value(JsonNode e, boolean mark) {
    return expr(e, mark);
  }

  private static String firstName(JsonNode e) {
    return e.fieldNames().next();
  }

  private static String unknown(JsonNode e) {
    return "?" + e;
  }
}
