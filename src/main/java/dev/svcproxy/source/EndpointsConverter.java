package dev.svcproxy.source;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.Protocol;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** Converts a legacy v1 Endpoints object to EndpointSlices, as the mirroring controller does. */
final class EndpointsConverter {
  private EndpointsConverter() {}

  static List<EndpointSlice> toSlices(JsonNode node) {
    JsonNode meta = node.path("metadata");
    String name = meta.path("name").asText("");
    if (name.isEmpty()) {
      throw new IllegalArgumentException("metadata.name is missing");
    }
    String ns = meta.path("namespace").asText("default");
    List<EndpointSlice> out = new ArrayList<>();
    int i = 0;
    for (JsonNode subset : node.path("subsets")) {
      List<EndpointSlice.Port> ports = new ArrayList<>();
      for (JsonNode p : subset.path("ports")) {
        ports.add(
            new EndpointSlice.Port(
                p.path("name").asText(""),
                ManifestParser.port(p, "port", true),
                Protocol.parse(p.path("protocol").asText(""))));
      }
      List<EndpointSlice.SliceEndpoint> eps = new ArrayList<>();
      addAddresses(subset.path("addresses"), true, eps);
      addAddresses(subset.path("notReadyAddresses"), false, eps);
      out.add(new EndpointSlice(ns, name + "-" + i++, name, "IPv4", ports, eps));
    }
    return out;
  }

  private static void addAddresses(
      JsonNode list, boolean ready, List<EndpointSlice.SliceEndpoint> eps) {
    for (JsonNode a : list) {
      String ip = a.path("ip").asText("");
      if (!Ip.isIp(ip)) {
        throw new IllegalArgumentException("invalid address \"" + ip + "\"");
      }
      eps.add(
          new EndpointSlice.SliceEndpoint(
              List.of(ip),
              ready,
              ready,
              false,
              a.path("nodeName").asText(""),
              "",
              Set.of(),
              Set.of()));
    }
  }
}
