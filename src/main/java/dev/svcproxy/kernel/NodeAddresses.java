package dev.svcproxy.kernel;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;

/** The node's IPv4 addresses, read with `ip -j -4 addr`. */
public final class NodeAddresses {
  private static final ObjectMapper JSON = new ObjectMapper();

  private NodeAddresses() {}

  /** Every IPv4 address on the node, loopback included; empty when ip cannot be run. */
  public static List<String> ipv4(CommandRunner runner) {
    CommandResult r = runner.run("ip", "-j", "-4", "addr", "show");
    List<String> out = new ArrayList<>();
    if (!r.ok()) {
      return out;
    }
    try {
      for (JsonNode link : JSON.readTree(r.stdout())) {
        for (JsonNode a : link.path("addr_info")) {
          if (a.path("family").asText().equals("inet")) {
            out.add(a.path("local").asText());
          }
        }
      }
    } catch (java.io.IOException e) {
      return out;
    }
    return out;
  }

  /** The first non-loopback IPv4 address, or "" when there is none. */
  public static String primary(List<String> addrs) {
    return addrs.stream().filter(a -> !a.startsWith("127.")).findFirst().orElse("");
  }
}
