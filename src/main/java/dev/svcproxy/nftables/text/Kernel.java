package dev.svcproxy.nftables.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
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

  private Kernel() {}

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
    return out;
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
