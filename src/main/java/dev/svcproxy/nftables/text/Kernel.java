package dev.svcproxy.nftables.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What nft does to a rule between the command and the listing, so that a transaction converts to
 * the JSON the kernel would print: a one-element anonymous set becomes its element, and a protocol
 * match that only states the dependency of the next payload match is folded into it (nft lists
 * {@code meta l4proto tcp tcp dport 80} as {@code tcp dport 80}).
 */
final class Kernel {
  private static final Set<String> L4 =
      Set.of("tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "ipv6-icmp");

  /** Bit values of the flag types nft prints as lists, in the order it prints them. */
  private static final Map<String, Integer> FLAG_BITS =
      Map.ofEntries(
          Map.entry("invalid", 1),
          Map.entry("established", 2),
          Map.entry("related", 4),
          Map.entry("new", 8),
          Map.entry("untracked", 64),
          Map.entry("expected", 1),
          Map.entry("seen-reply", 2),
          Map.entry("assured", 4),
          Map.entry("confirmed", 8),
          Map.entry("snat", 16),
          Map.entry("dnat", 32),
          Map.entry("dying", 512),
          Map.entry("fin", 1),
          Map.entry("syn", 2),
          Map.entry("rst", 4),
          Map.entry("psh", 8),
          Map.entry("ack", 16),
          Map.entry("urg", 32),
          Map.entry("ecn", 64),
          Map.entry("cwr", 128));

  private Kernel() {}

  static boolean isFlag(String s) {
    return FLAG_BITS.containsKey(s);
  }

  /** A list of flag names in bit order, as nft prints it; any other list as it is. */
  static ArrayNode sortFlags(ArrayNode list) {
    List<String> names = new ArrayList<>();
    for (JsonNode n : list) {
      if (!n.isTextual() || !isFlag(n.asText())) {
        return list;
      }
      names.add(n.asText());
    }
    names.sort(Comparator.comparing(FLAG_BITS::get));
    ArrayNode out = RuleParser.F.arrayNode();
    names.forEach(out::add);
    return out;
  }

  static List<JsonNode> rule(List<JsonNode> given, String family) {
    List<JsonNode> stmts = resolveTh(given);
    List<JsonNode> out = new ArrayList<>();
    for (int i = 0; i < stmts.size(); i++) {
      JsonNode s = stmts.get(i);
      JsonNode m = s.get("match");
      if (m != null) {
        s = maskToPrefix(s);
        m = s.get("match");
        JsonNode r = m.get("right");
        if (r.isObject()
            && r.has("set")
            && r.get("set").size() == 1
            && !r.get("set").get(0).isArray()) {
          ObjectNode copy = ((ObjectNode) m).deepCopy();
          copy.set("right", r.get("set").get(0));
          ObjectNode w = RuleParser.F.objectNode();
          w.set("match", copy);
          s = w;
        }
        if (isDependency(m, stmts.subList(i + 1, stmts.size()), family)) {
          continue;
        }
      }
      out.add(s);
    }
    if (family.equals("inet")) {
      out = typeInetReject(out);
    }
    if (family.equals("inet") && needsTcpDependency(out)) {
      ObjectNode dep = RuleParser.F.objectNode();
      dep.putObject("match")
          .put("op", "==")
          .<ObjectNode>set(
              "left",
              RuleParser.F.objectNode()
                  .set("meta", RuleParser.F.objectNode().put("key", "l4proto")))
          .put("right", "tcp");
      out.add(0, dep);
    }
    return out;
  }

  private static final Set<String> TH = Set.of("tcp", "udp", "udplite", "sctp", "dccp");

  /**
   * After a match that fixes the transport protocol, nft lists {@code th} fields under that
   * protocol's name ({@code tcp dport 1 th dport 2} lists as {@code tcp dport 1 tcp dport 2}).
   */
  private static List<JsonNode> resolveTh(List<JsonNode> stmts) {
    List<JsonNode> out = new ArrayList<>();
    String proto = null;
    for (JsonNode s : stmts) {
      JsonNode t = proto == null ? s : renameTh(s, proto);
      out.add(t);
      JsonNode m = t.get("match");
      if (m != null) {
        JsonNode left = m.get("left");
        String pp = left.path("payload").path("protocol").asText("");
        // Any match on a transport header field implies that protocol, even a negated or masked
        // one.
        List<String> inLeft = new ArrayList<>();
        payloadProtocols(left, inLeft);
        for (String q : inLeft) {
          if (TH.contains(q)) {
            proto = q;
          }
        }
        if (m.path("op").asText().equals("!=")) {
          continue;
        }
        String key = left.path("meta").path("key").asText("");
        String field = pp + " " + left.path("payload").path("field").asText("");
        if ((key.equals("l4proto") || field.equals("ip protocol") || field.equals("ip6 nexthdr"))
            && TH.contains(m.path("right").asText())) {
          proto = m.path("right").asText();
        }
      }
    }
    return out;
  }

  private static JsonNode renameTh(JsonNode n, String proto) {
    if (n.isObject()) {
      ObjectNode o = RuleParser.F.objectNode();
      for (Map.Entry<String, JsonNode> f : n.properties()) {
        JsonNode v = f.getValue();
        if (f.getKey().equals("payload") && v.path("protocol").asText().equals("th")) {
          ObjectNode pl = ((ObjectNode) v).deepCopy();
          pl.put("protocol", proto);
          o.set("payload", pl);
        } else {
          o.set(f.getKey(), renameTh(v, proto));
        }
      }
      return o;
    }
    if (n.isArray()) {
      ArrayNode a = RuleParser.F.arrayNode();
      n.forEach(x -> a.add(renameTh(x, proto)));
      return a;
    }
    return n;
  }

  /**
   * A bare {@code reject} in inet is icmpx unless the rule already fixed the network protocol: then
   * nft uses icmp (icmpv6) port-unreachable, and a {@code meta nfproto} match that only said so is
   * dropped. nft's text prints both icmpx port-unreachable and this as "reject" after an ip match;
   * the bare form, the common one, is assumed.
   */
  private static List<JsonNode> typeInetReject(List<JsonNode> stmts) {
    String l3 = null;
    int nfproto = -1;
    List<JsonNode> out = new ArrayList<>(stmts);
    for (int i = 0; i < out.size(); i++) {
      JsonNode s = out.get(i);
      JsonNode left = s.path("match").path("left");
      List<String> protos = new ArrayList<>();
      payloadProtocols(s, protos);
      for (String proto : protos) {
        if (proto.equals("ip") || proto.equals("icmp")) {
          l3 = "icmp";
        } else if (proto.equals("ip6") || proto.equals("icmpv6")) {
          l3 = "icmpv6";
        }
      }
      if (left.path("meta").path("key").asText().equals("nfproto")
          && s.path("match").path("op").asText().equals("==")) {
        String v = s.path("match").path("right").asText();
        l3 = v.equals("ipv4") ? "icmp" : v.equals("ipv6") ? "icmpv6" : l3;
        nfproto = i;
      }
      JsonNode r = s.path("reject");
      if (l3 != null
          && r.path("type").asText().equals("icmpx")
          && r.path("expr").asText().equals("port-unreachable")
          && r.has("svcproxy-bare")) {
        ObjectNode typed = RuleParser.F.objectNode();
        typed.putObject("reject").put("type", l3).put("expr", "port-unreachable");
        out.set(i, typed);
        if (nfproto >= 0) {
          out.remove(nfproto);
          i--;
        }
      }
    }
    for (int i = 0; i < out.size(); i++) {
      if (out.get(i).path("reject").has("svcproxy-bare")) {
        ObjectNode copy = out.get(i).deepCopy();
        ((ObjectNode) copy.get("reject")).remove("svcproxy-bare");
        out.set(i, copy);
      }
    }
    return out;
  }

  /** {@code ip saddr & 255.255.255.0 == 10.0.0.0} is listed as {@code ip saddr 10.0.0.0/24}. */
  private static JsonNode maskToPrefix(JsonNode s) {
    JsonNode m = s.get("match");
    JsonNode and = m.path("left").path("&");
    if (!and.isArray()
        || and.size() != 2
        || !and.get(1).isTextual()
        || !m.get("right").isTextual()) {
      return s;
    }
    int len = maskLength(and.get(1).asText());
    if (len < 0 || !m.get("right").asText().matches("\\d+(\\.\\d+){3}")) {
      return s;
    }
    ObjectNode copy = s.deepCopy();
    ObjectNode cm = (ObjectNode) copy.get("match");
    cm.set("left", and.get(0));
    ObjectNode prefix = RuleParser.F.objectNode();
    prefix.putObject("prefix").put("addr", m.get("right").asText()).put("len", len);
    cm.set("right", prefix);
    return copy;
  }

  /** The prefix length of a contiguous IPv4 netmask, or -1. */
  private static int maskLength(String mask) {
    String[] parts = mask.split("\\.");
    if (parts.length != 4) {
      return -1;
    }
    long v = 0;
    for (String p : parts) {
      if (!p.matches("\\d{1,3}") || Integer.parseInt(p) > 255) {
        return -1;
      }
      v = (v << 8) | Integer.parseInt(p);
    }
    int len = Long.numberOfLeadingZeros(~v & 0xffffffffL) - 32;
    long expect = len == 0 ? 0 : (0xffffffffL << (32 - len)) & 0xffffffffL;
    return v == expect && len > 0 && len < 32 ? len : -1;
  }

  /** In inet, nft puts {@code meta l4proto tcp} first in a rule that resets without a tcp match. */
  private static boolean needsTcpDependency(List<JsonNode> stmts) {
    for (JsonNode s : stmts) {
      if (s.path("reject").path("type").asText().equals("tcp reset")) {
        return true;
      }
      JsonNode left = s.path("match").path("left");
      if (left.path("payload").path("protocol").asText().equals("tcp")
          || (left.path("meta").path("key").asText().equals("l4proto")
              && s.path("match").path("right").asText().equals("tcp"))) {
        return false;
      }
    }
    return false;
  }

  /** True when {@code m} only states the dependency of a later payload match. */
  private static boolean isDependency(JsonNode m, List<JsonNode> rest, String family) {
    if (!m.path("op").asText().equals("==") || !m.get("right").isTextual()) {
      return false;
    }
    // nft forgets the dependency at a statement other than a plain meta/payload match (a counter,
    // a fib or ct match), so only the uses up to and including the first such one count.
    for (JsonNode next : rest) {
      List<String> protos = new ArrayList<>();
      payloadProtocols(next, protos);
      for (String proto : protos) {
        if (dependencyOf(m, proto, family)) {
          return true;
        }
      }
      JsonNode left = next.path("match").path("left");
      if (!left.has("meta") && !left.has("payload")) {
        return false;
      }
    }
    return false;
  }

  private static void payloadProtocols(JsonNode n, List<String> out) {
    if (n.isObject() && n.has("payload") && n.get("payload").has("protocol")) {
      out.add(n.get("payload").get("protocol").asText());
    }
    if (n.isContainerNode()) {
      n.forEach(x -> payloadProtocols(x, out));
    }
  }

  private static boolean dependencyOf(JsonNode m, String nextProto, String family) {
    String value = m.get("right").asText();
    JsonNode left = m.get("left");
    String meta = left.path("meta").path("key").asText("");
    String payload =
        left.path("payload").path("protocol").asText("")
            + " "
            + left.path("payload").path("field").asText("");
    // The dependency nft itself would add: meta l4proto in inet, the header's field in ip/ip6.
    if (meta.equals("l4proto")
        || (payload.equals("ip protocol") && family.equals("ip"))
        || (payload.equals("ip6 nexthdr") && family.equals("ip6"))) {
      String v = value.equals("ipv6-icmp") ? "icmpv6" : value;
      return L4.contains(value) && v.equals(nextProto);
    }
    if (meta.equals("nfproto") && family.equals("inet")) {
      return (value.equals("ipv4") && Set.of("ip", "icmp").contains(nextProto))
          || (value.equals("ipv6") && Set.of("ip6", "icmpv6").contains(nextProto));
    }
    return false;
  }
}
