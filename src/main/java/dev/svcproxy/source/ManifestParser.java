package dev.svcproxy.source;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.Service;
import dev.svcproxy.model.ServicePort;
import dev.svcproxy.model.TrafficPolicy;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads Kubernetes manifests (YAML or JSON, several documents per file, v1 Lists) into Services and
 * EndpointSlices. A document that cannot be used is reported and skipped; the others still count.
 */
public final class ManifestParser {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  /** Parses the text of one file; {@code file} names it in problems. */
  public ManifestSet parse(String file, String text) {
    List<Service> services = new ArrayList<>();
    List<EndpointSlice> slices = new ArrayList<>();
    List<ManifestProblem> problems = new ArrayList<>();
    int doc = 0;
    try (JsonParser p = YAML.getFactory().createParser(text);
        MappingIterator<JsonNode> it = YAML.readValues(p, JsonNode.class)) {
      while (true) {
        doc++;
        JsonNode node;
        try {
          if (!it.hasNextValue()) {
            break;
          }
          node = it.nextValue();
        } catch (IOException | RuntimeException e) {
          problems.add(new ManifestProblem(file, doc, "not valid YAML/JSON: " + firstLine(e)));
          break;
        }
        if (node == null || node.isNull() || node.isMissingNode()) {
          continue;
        }
        collect(file, doc, node, services, slices, problems);
      }
    } catch (IOException e) {
      problems.add(new ManifestProblem(file, doc, "not valid YAML/JSON: " + firstLine(e)));
    }
    return new ManifestSet(services, slices, problems);
  }

  private void collect(
      String file,
      int doc,
      JsonNode node,
      List<Service> services,
      List<EndpointSlice> slices,
      List<ManifestProblem> problems) {
    String kind = node.path("kind").asText("");
    String apiVersion = node.path("apiVersion").asText("");
    try {
      switch (apiVersion + "/" + kind) {
        case "v1/Service" -> {
          Service s = service(node);
          if (s != null) {
            services.add(s);
          }
        }
        case "discovery.k8s.io/v1/EndpointSlice" -> slices.add(endpointSlice(node));
        case "v1/Endpoints" -> slices.addAll(EndpointsConverter.toSlices(node));
        case "v1/List" -> {
          for (JsonNode item : node.path("items")) {
            collect(file, doc, item, services, slices, problems);
          }
        }
        default ->
            problems.add(
                new ManifestProblem(
                    file, doc, "unsupported kind \"" + apiVersion + "/" + kind + "\""));
      }
    } catch (IllegalArgumentException e) {
      String who = node.path("metadata").path("namespace").asText("default");
      who += "/" + node.path("metadata").path("name").asText("?");
      problems.add(new ManifestProblem(file, doc, kind + " " + who + ": " + e.getMessage()));
    }
  }

  /** Converts a v1 Service; returns null for those a proxy skips (headless, ExternalName). */
  static Service service(JsonNode node) {
    JsonNode meta = node.path("metadata");
    String name = require(meta, "name");
    String ns = meta.path("namespace").asText("default");
    JsonNode spec = node.path("spec");
    String type = spec.path("type").asText("ClusterIP");
    if (type.equals("ExternalName")) {
      return null;
    }
    if (!spec.has("clusterIP") && !spec.has("clusterIPs")) {
      throw new IllegalArgumentException("spec.clusterIP is missing");
    }
    String clusterIP = spec.path("clusterIP").asText("");
    if (clusterIP.isEmpty() && spec.path("clusterIPs").size() > 0) {
      clusterIP = spec.path("clusterIPs").get(0).asText("");
    }
    if (clusterIP.isEmpty() || clusterIP.equals("None")) {
      return null;
    }
    if (!Ip.isIp(clusterIP)) {
      throw new IllegalArgumentException("invalid spec.clusterIP \"" + clusterIP + "\"");
    }
    List<ServicePort> ports = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (JsonNode p : spec.path("ports")) {
      int port = port(p, "port", true);
      int nodePort = port(p, "nodePort", false);
      Protocol proto = Protocol.parse(p.path("protocol").asText(""));
      String pname = p.path("name").asText("");
      if (!seen.add(pname + "/" + proto)) {
        throw new IllegalArgumentException("duplicate port name \"" + pname + "\"");
      }
      ports.add(new ServicePort(pname, port, proto, nodePort));
    }
    List<String> externalIPs = ips(spec.path("externalIPs"), "spec.externalIPs");
    List<String> lbIPs = new ArrayList<>();
    for (JsonNode ing : node.path("status").path("loadBalancer").path("ingress")) {
      String ip = ing.path("ip").asText("");
      if (ip.isEmpty()) {
        continue;
      }
      if (!Ip.isIp(ip)) {
        throw new IllegalArgumentException("invalid status.loadBalancer.ingress ip \"" + ip + "\"");
      }
      // Proxy-mode ingress IPs are reached through the load balancer, not captured on the node.
      if (!ing.path("ipMode").asText("VIP").equals("Proxy")) {
        lbIPs.add(ip);
      }
    }
    List<String> ranges = new ArrayList<>();
    for (JsonNode r : spec.path("loadBalancerSourceRanges")) {
      try {
        ranges.add(Cidr.parse(r.asText()).masked().toString());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("spec.loadBalancerSourceRanges: " + e.getMessage());
      }
    }
    boolean affinity = spec.path("sessionAffinity").asText("None").equals("ClientIP");
    int timeout =
        spec.path("sessionAffinityConfig")
            .path("clientIP")
            .path("timeoutSeconds")
            .asInt(Service.DEFAULT_STICKY_SECONDS);
    int hc = port(spec, "healthCheckNodePort", false);
    return new Service(
        ns,
        name,
        type,
        clusterIP,
        ports,
        externalIPs,
        type.equals("LoadBalancer") ? lbIPs : List.of(),
        ranges,
        TrafficPolicy.parse(spec.path("externalTrafficPolicy").asText("")),
        TrafficPolicy.parse(spec.path("internalTrafficPolicy").asText("")),
        hc,
        affinity,
        timeout);
  }

  static EndpointSlice endpointSlice(JsonNode node) {
    JsonNode meta = node.path("metadata");
    String name = require(meta, "name");
    String ns = meta.path("namespace").asText("default");
    String svc = meta.path("labels").path("kubernetes.io/service-name").asText("");
    if (svc.isEmpty()) {
      throw new IllegalArgumentException("label kubernetes.io/service-name is missing");
    }
    String addressType = node.path("addressType").asText("IPv4");
    List<EndpointSlice.Port> ports = new ArrayList<>();
    for (JsonNode p : node.path("ports")) {
      Integer port = p.has("port") && !p.get("port").isNull() ? port(p, "port", true) : null;
      ports.add(
          new EndpointSlice.Port(
              p.path("name").asText(""), port, Protocol.parse(p.path("protocol").asText(""))));
    }
    List<EndpointSlice.SliceEndpoint> eps = new ArrayList<>();
    for (JsonNode e : node.path("endpoints")) {
      List<String> addrs = new ArrayList<>();
      for (JsonNode a : e.path("addresses")) {
        String ip = a.asText();
        if (!addressType.equals("FQDN") && !Ip.isIp(ip)) {
          throw new IllegalArgumentException("invalid endpoint address \"" + ip + "\"");
        }
        addrs.add(ip);
      }
      JsonNode c = e.path("conditions");
      boolean ready = c.path("ready").asBoolean(true);
      boolean serving = c.path("serving").asBoolean(true);
      boolean terminating = c.path("terminating").asBoolean(false);
      Set<String> zoneHints = new HashSet<>();
      for (JsonNode z : e.path("hints").path("forZones")) {
        zoneHints.add(z.path("name").asText());
      }
      Set<String> nodeHints = new HashSet<>();
      for (JsonNode n : e.path("hints").path("forNodes")) {
        nodeHints.add(n.path("name").asText());
      }
      eps.add(
          new EndpointSlice.SliceEndpoint(
              addrs,
              ready,
              serving,
              terminating,
              e.path("nodeName").asText(""),
              e.path("zone").asText(""),
              zoneHints,
              nodeHints));
    }
    return new EndpointSlice(ns, name, svc, addressType, ports, eps);
  }

  private static List<String> ips(JsonNode list, String field) {
    List<String> out = new ArrayList<>();
    for (JsonNode n : list) {
      String ip = n.asText();
      if (!Ip.isIp(ip)) {
        throw new IllegalArgumentException("invalid " + field + " entry \"" + ip + "\"");
      }
      out.add(ip);
    }
    return out;
  }

  static int port(JsonNode parent, String field, boolean required) {
    JsonNode n = parent.path(field);
    if (n.isMissingNode() || n.isNull()) {
      if (required) {
        throw new IllegalArgumentException(field + " is missing");
      }
      return 0;
    }
    if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 0 || n.asInt() > 65535) {
      throw new IllegalArgumentException("invalid " + field + " \"" + n.asText() + "\"");
    }
    if (required && n.asInt() == 0) {
      throw new IllegalArgumentException("invalid " + field + " \"0\"");
    }
    return n.asInt();
  }

  private static String require(JsonNode meta, String field) {
    String v = meta.path(field).asText("");
    if (v.isEmpty()) {
      throw new IllegalArgumentException("metadata." + field + " is missing");
    }
    return v;
  }

  private static String firstLine(Exception e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }
}
