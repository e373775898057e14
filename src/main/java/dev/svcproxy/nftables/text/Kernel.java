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

  static List<JsonNode> rule(List<JsonNode> stmts, String family) {
    List<JsonNode> out = new ArrayList<>();
    for (int i = 0; i < stmts.size(); i++) {
      JsonNode s = stmts.get(i);
      JsonNode m = s.get("match");
      if (m != null) {
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
        if (i + 1 < stmts.size() && isDependency(m, stmts.get(i + 1), family)) {
          continue;
        }
      }
      out.add(s);
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

  private static boolean isDependency(JsonNode m, JsonNode next, String family) {
    if (!m.path("op").asText().equals("==") || !m.get("right").isTextual()) {
      return false;
    }
    String value = m.get("right").asText();
    String nextProto = next.path("match").path("left").path("payload").path("protocol").asText("");
    if (nextProto.isEmpty()) {
      return false;
    }
    JsonNode left = m.get("left");
    String meta = left.path("meta").path("key").asText("");
    String payload =
        left.path("payload").path("protocol").asText("")
            + " "
            + left.path("payload").path("field").asText("");
    if (meta.equals("l4proto") || payload.equals("ip protocol") || payload.equals("ip6 nexthdr")) {
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
