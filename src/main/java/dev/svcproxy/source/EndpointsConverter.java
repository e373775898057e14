package dev.svcproxy.source;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.model.EndpointSlice;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Converts a legacy v1 Endpoints object to EndpointSlices, as the mirroring controller does, after
 * checking it as the API server checks Endpoints.
 */
final class EndpointsConverter {
  private EndpointsConverter() {}

  static List<EndpointSlice> toSlices(JsonNode node) {
    JsonNode meta = node.path("metadata");
    String name = ManifestParser.name(meta, ApiValidation::dns1123Subdomain);
    String ns = ManifestParser.namespace(meta);
    ManifestParser.labels(meta);
    List<EndpointSlice> out = new ArrayList<>();
    JsonNode subsets = ManifestParser.list(node, "subsets", "subsets");
    for (int i = 0; i < subsets.size(); i++) {
      JsonNode subset = subsets.get(i);
      String f = "subsets[" + i + "]";
      List<EndpointSlice.Port> ports = new ArrayList<>();
      JsonNode portList = ManifestParser.list(subset, "ports", f + ".ports");
      for (int j = 0; j < portList.size(); j++) {
        JsonNode p = portList.get(j);
        String pf = f + ".ports[" + j + "]";
        String pname = ManifestParser.text(p, "name", pf + ".name", "");
        if (!pname.isEmpty()) {
          String reason = ApiValidation.dns1123Label(pname);
          if (reason != null) {
            throw ManifestParser.invalid(
                pf + ".name", "invalid value " + Printable.quoted(pname) + ": " + reason);
          }
        }
        ports.add(
            new EndpointSlice.Port(
                pname,
                ManifestParser.port(p, "port", pf + ".port", true),
                ManifestParser.protocol(p, pf + ".protocol")));
      }
      List<EndpointSlice.SliceEndpoint> eps = new ArrayList<>();
      addAddresses(
          ManifestParser.list(subset, "addresses", f + ".addresses"), true, f + ".addresses", eps);
      addAddresses(
          ManifestParser.list(subset, "notReadyAddresses", f + ".notReadyAddresses"),
          false,
          f + ".notReadyAddresses",
          eps);
      out.add(new EndpointSlice(ns, name + "-" + i, name, "IPv4", ports, eps));
    }
    return out;
  }

  private static void addAddresses(
      JsonNode list, boolean ready, String field, List<EndpointSlice.SliceEndpoint> eps) {
    for (int i = 0; i < list.size(); i++) {
      JsonNode a = list.get(i);
      String f = field + "[" + i + "]";
      String ip = ManifestParser.ip(ManifestParser.text(a, "ip", f + ".ip", ""), f + ".ip");
      String nodeName = ManifestParser.text(a, "nodeName", f + ".nodeName", "");
      String hostname = ManifestParser.text(a, "hostname", f + ".hostname", "");
      check(
          nodeName.isEmpty() ? null : ApiValidation.dns1123Subdomain(nodeName),
          f + ".nodeName",
          nodeName);
      check(
          hostname.isEmpty() ? null : ApiValidation.dns1123Label(hostname),
          f + ".hostname",
          hostname);
      eps.add(
          new EndpointSlice.SliceEndpoint(
              List.of(ip), ready, ready, false, nodeName, "", Set.of(), Set.of()));
    }
  }

  private static void check(String reason, String field, String value) {
    if (reason != null) {
      throw ManifestParser.invalid(
          field, "invalid value " + Printable.quoted(value) + ": " + reason);
    }
  }
}
