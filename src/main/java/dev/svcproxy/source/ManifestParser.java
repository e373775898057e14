package dev.svcproxy.source;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.Protocol;
import dev.svcproxy.model.Service;
import dev.svcproxy.model.ServicePort;
import dev.svcproxy.model.TrafficPolicy;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads Kubernetes manifests (YAML or JSON, several documents per file, v1 Lists) into Services and
 * EndpointSlices. Nothing here went through an API server, so every field a proxy uses is checked
 * as the API server checks it; a document or object that cannot be used is reported as "file:
 * document N: Kind ns/name: field: reason" and skipped, and the others still count. IPv4 addresses
 * and prefixes are read as upstream reads them (leading zeros allowed) and kept in canonical form.
 */
public final class ManifestParser {
  private static final Logger LOG = LoggerFactory.getLogger(ManifestParser.class);

  /** Parses the text of one file; {@code file} names it in problems. */
  public ManifestSet parse(String file, String text) {
    List<ManifestSet.Item> items = new ArrayList<>();
    List<ManifestProblem> problems = new ArrayList<>();
    boolean unreadable = false;
    for (YamlDocuments.Document d : YamlDocuments.read(text)) {
      if (d.error() != null) {
        problems.add(new ManifestProblem(file, d.number(), "not valid YAML/JSON: " + d.error()));
        unreadable = true;
        continue;
      }
      d.warnings().forEach(w -> problems.add(new ManifestProblem(file, d.number(), w)));
      JsonNode node = d.tree();
      if (node == null || node.isNull() || node.isMissingNode()) {
        continue;
      }
      collect(file, d.number(), node, items, problems);
    }
    return new ManifestSet(ManifestSet.firstOfEach(items, problems), problems, unreadable);
  }

  private void collect(
      String file,
      int doc,
      JsonNode node,
      List<ManifestSet.Item> items,
      List<ManifestProblem> problems) {
    if (!node.isObject()) {
      problems.add(new ManifestProblem(file, doc, "not a Kubernetes object (a mapping)"));
      return;
    }
    String kind = shared(node.path("kind").asText(""));
    String apiVersion = node.path("apiVersion").asText("");
    JsonNode meta = node.path("metadata");
    JsonNode nsNode = meta.path("namespace");
    String ns = nsNode.isTextual() ? shared(nsNode.asText()) : "?";
    if (nsNode.isMissingNode() || nsNode.isNull() || ns.isEmpty()) {
      ns = "default";
    }
    String name = shared(meta.path("name").asText(""));
    try {
      switch (apiVersion + "/" + kind) {
        case "v1/Service" -> {
          Service s = service(node);
          items.add(
              new ManifestSet.Item(
                  kind, ns, name, file, doc, s == null ? List.of() : List.of(s), List.of()));
        }
        case "discovery.k8s.io/v1/EndpointSlice" ->
            items.add(
                new ManifestSet.Item(
                    kind, ns, name, file, doc, List.of(), List.of(endpointSlice(node))));
        case "v1/Endpoints" ->
            items.add(
                new ManifestSet.Item(
                    kind, ns, name, file, doc, List.of(), EndpointsConverter.toSlices(node)));
        case "networking.k8s.io/v1/ServiceCIDR", "networking.k8s.io/v1beta1/ServiceCIDR" ->
            items.add(
                new ManifestSet.Item(
                    kind, "", name, file, doc, List.of(), List.of(), serviceCidr(node)));
        case "v1/List" -> {
          for (JsonNode item : list(node, "items", "items")) {
            collect(file, doc, item, items, problems);
          }
        }
        default ->
            problems.add(
                new ManifestProblem(
                    file, doc, "unsupported kind " + Printable.quoted(apiVersion + "/" + kind)));
      }
    } catch (RuntimeException e) {
      String who = Printable.shown(ns) + "/" + Printable.shown(name.isEmpty() ? "?" : name);
      // Anything but our own IllegalArgumentException is a bug; still, one object must not stop
      // the others from being read.
      String why =
          e instanceof IllegalArgumentException
              ? e.getMessage()
              : "cannot be read (" + e.getClass().getSimpleName() + ")";
      problems.add(new ManifestProblem(file, doc, Printable.shown(kind) + " " + who + ": " + why));
    }
  }

  /**
   * The prefixes of a ServiceCIDR (networking.k8s.io), checked as the API server's
   * ValidateServiceCIDR does: a DNS-1123 subdomain name, one or two CIDRs in canonical form, at
   * most one per IP family.
   */
  public static List<Cidr> serviceCidr(JsonNode node) {
    name(node.path("metadata"), ApiValidation::dns1123Subdomain);
    JsonNode list = list(node.path("spec"), "cidrs", "spec.cidrs");
    if (list.isEmpty()) {
      throw invalid("spec.cidrs", "Required value");
    }
    if (list.size() > 2) {
      throw invalid("spec.cidrs", "Too many: " + list.size() + ": must have at most 2 items");
    }
    List<Cidr> out = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      String field = "spec.cidrs[" + i + "]";
      String v = text(list, i, field);
      Cidr c;
      try {
        c = Cidr.parse(v);
      } catch (IllegalArgumentException e) {
        throw invalid(field, "invalid value " + Printable.quoted(v) + ": must be a valid CIDR");
      }
      if (v.indexOf('/') < 0 || !c.masked().toString().equals(v) && !c.ipv6()) {
        throw invalid(
            field,
            "invalid value "
                + Printable.quoted(v)
                + ": must be in canonical form ("
                + Printable.quoted(c.masked().toString())
                + ")");
      }
      if (!out.isEmpty() && out.getFirst().ipv6() == c.ipv6()) {
        throw invalid("spec.cidrs", "may specify no more than one IP for each IP family");
      }
      out.add(c);
    }
    return out;
  }

  /** Converts a v1 Service; returns null for those a proxy skips (headless, ExternalName). */
  public static Service service(JsonNode node) {
    JsonNode meta = node.path("metadata");
    String name = name(meta, ApiValidation::dns1035Label);
    String ns = namespace(meta);
    labels(meta);
    JsonNode spec = node.path("spec");
    String type = text(spec, "type", "spec.type", "ClusterIP");
    if (!Set.of("ClusterIP", "NodePort", "LoadBalancer", "ExternalName").contains(type)) {
      throw invalid(
          "spec.type",
          "unsupported value "
              + Printable.quoted(type)
              + ": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"");
    }
    if (type.equals("ExternalName")) {
      return null;
    }
    if (!spec.has("clusterIP") && !spec.has("clusterIPs")) {
      throw invalid("spec.clusterIP", "clusterIP is missing");
    }
    String clusterIP = text(spec, "clusterIP", "spec.clusterIP", "");
    JsonNode clusterIPs = list(spec, "clusterIPs", "spec.clusterIPs");
    for (int i = 0; i < clusterIPs.size(); i++) {
      String ip = text(clusterIPs, i, "spec.clusterIPs[" + i + "]");
      if (!ip.equals("None")) {
        ip(ip, "spec.clusterIPs[" + i + "]");
      }
      if (i == 0 && clusterIP.isEmpty()) {
        clusterIP = ip;
      }
    }
    if (clusterIP.isEmpty() || clusterIP.equals("None")) {
      return null;
    }
    clusterIP = ip(clusterIP, "spec.clusterIP");
    List<ServicePort> ports = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    JsonNode portList = list(spec, "ports", "spec.ports");
    for (int i = 0; i < portList.size(); i++) {
      JsonNode p = portList.get(i);
      String f = "spec.ports[" + i + "]";
      String pname = text(p, "name", f + ".name", "");
      if (pname.isEmpty() && portList.size() > 1) {
        throw invalid(f + ".name", "name is required when a Service has more than one port");
      }
      if (!pname.isEmpty()) {
        check(ApiValidation.dns1123Label(pname), f + ".name", pname);
      }
      if (!seen.add(pname)) {
        throw invalid(f + ".name", "duplicate port name " + Printable.quoted(pname));
      }
      int port = port(p, "port", f + ".port", true);
      Protocol proto = protocol(p, f + ".protocol");
      int nodePort = port(p, "nodePort", f + ".nodePort", false);
      targetPort(p.path("targetPort"), f + ".targetPort");
      ports.add(new ServicePort(pname, port, proto, nodePort));
    }
    List<String> externalIPs =
        ips(list(spec, "externalIPs", "spec.externalIPs"), "spec.externalIPs");
    List<String> lbIPs = new ArrayList<>();
    JsonNode ingress =
        list(node.path("status").path("loadBalancer"), "ingress", "status.loadBalancer.ingress");
    for (int i = 0; i < ingress.size(); i++) {
      JsonNode ing = ingress.get(i);
      String f = "status.loadBalancer.ingress[" + i + "]";
      String ip = text(ing, "ip", f + ".ip", "");
      String mode = text(ing, "ipMode", f + ".ipMode", "VIP");
      if (!mode.equals("VIP") && !mode.equals("Proxy")) {
        throw invalid(
            f + ".ipMode",
            "unsupported value "
                + Printable.quoted(mode)
                + ": supported values: \"Proxy\", \"VIP\"");
      }
      String host = text(ing, "hostname", f + ".hostname", "");
      if (!host.isEmpty()) {
        check(ApiValidation.dns1123Subdomain(host), f + ".hostname", host);
      }
      if (ip.isEmpty()) {
        continue;
      }
      ip = ip(ip, f + ".ip");
      // Proxy-mode ingress IPs are reached through the load balancer, not captured on the node.
      if (mode.equals("VIP")) {
        lbIPs.add(ip);
      }
    }
    List<String> ranges = new ArrayList<>();
    JsonNode rangeList = list(spec, "loadBalancerSourceRanges", "spec.loadBalancerSourceRanges");
    for (int i = 0; i < rangeList.size(); i++) {
      String f = "spec.loadBalancerSourceRanges[" + i + "]";
      String r = text(rangeList, i, f);
      try {
        ranges.add(Cidr.parseSloppy(r).toString());
      } catch (IllegalArgumentException e) {
        throw invalid(f, "invalid CIDR " + Printable.quoted(r));
      }
    }
    String affinity = text(spec, "sessionAffinity", "spec.sessionAffinity", "None");
    if (!affinity.equals("None") && !affinity.equals("ClientIP")) {
      throw invalid(
          "spec.sessionAffinity",
          "unsupported value "
              + Printable.quoted(affinity)
              + ": supported values: \"ClientIP\", \"None\"");
    }
    JsonNode timeoutNode =
        spec.path("sessionAffinityConfig").path("clientIP").path("timeoutSeconds");
    int timeout = Service.DEFAULT_STICKY_SECONDS;
    if (!timeoutNode.isMissingNode() && !timeoutNode.isNull()) {
      if (!timeoutNode.isIntegralNumber()
          || !timeoutNode.canConvertToInt()
          || timeoutNode.asInt() < 1
          || timeoutNode.asInt() > 86400) {
        throw invalid(
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            "invalid value "
                + Printable.quoted(timeoutNode.asText())
                + ": must be greater than 0 and less than 86400");
      }
      timeout = timeoutNode.asInt();
    }
    int hc = port(spec, "healthCheckNodePort", "spec.healthCheckNodePort", false);
    return new Service(
        ns,
        name,
        type,
        clusterIP,
        ports,
        externalIPs,
        type.equals("LoadBalancer") ? lbIPs : List.of(),
        ranges,
        policy(spec, "externalTrafficPolicy"),
        policy(spec, "internalTrafficPolicy"),
        hc,
        affinity.equals("ClientIP"),
        timeout);
  }

  public static EndpointSlice endpointSlice(JsonNode node) {
    JsonNode meta = node.path("metadata");
    String name = name(meta, ApiValidation::dns1123Subdomain);
    String ns = namespace(meta);
    labels(meta);
    String svc = shared(meta.path("labels").path("kubernetes.io/service-name").asText(""));
    if (svc.isEmpty()) {
      throw invalid(
          "metadata.labels", "label kubernetes.io/service-name is missing (the Service's name)");
    }
    String addressType = text(node, "addressType", "addressType", "IPv4");
    if (!Set.of("IPv4", "IPv6", "FQDN").contains(addressType)) {
      throw invalid(
          "addressType",
          "unsupported value "
              + Printable.quoted(addressType)
              + ": supported values: \"FQDN\", \"IPv4\", \"IPv6\"");
    }
    List<EndpointSlice.Port> ports = new ArrayList<>();
    Set<String> names = new HashSet<>();
    JsonNode portList = list(node, "ports", "ports");
    for (int i = 0; i < portList.size(); i++) {
      JsonNode p = portList.get(i);
      String f = "ports[" + i + "]";
      String pname = text(p, "name", f + ".name", "");
      if (!pname.isEmpty()) {
        check(ApiValidation.dns1123Label(pname), f + ".name", pname);
      }
      if (!names.add(pname)) {
        throw invalid(f + ".name", "duplicate port name " + Printable.quoted(pname));
      }
      Integer port =
          p.has("port") && !p.get("port").isNull() ? port(p, "port", f + ".port", true) : null;
      ports.add(new EndpointSlice.Port(pname, port, protocol(p, f + ".protocol")));
    }
    List<EndpointSlice.SliceEndpoint> eps = new ArrayList<>();
    JsonNode epList = list(node, "endpoints", "endpoints");
    for (int j = 0; j < epList.size(); j++) {
      JsonNode e = epList.get(j);
      String f = "endpoints[" + j + "]";
      JsonNode addrList = list(e, "addresses", f + ".addresses");
      if (addrList.size() == 0 || addrList.size() > 100) {
        throw invalid(f + ".addresses", "must contain at least 1 and at most 100 addresses");
      }
      List<String> addrs = new ArrayList<>();
      for (int k = 0; k < addrList.size(); k++) {
        String af = f + ".addresses[" + k + "]";
        String a = text(addrList, k, af);
        switch (addressType) {
          case "IPv4" -> {
            if (Ip.ipv4ToLongSloppy(a) < 0) {
              throw invalid(af, "must be a valid IPv4 address, not " + Printable.quoted(a));
            }
            addrs.add(Ip.parseSloppy(a));
          }
          case "IPv6" -> {
            if (!Ip.isIpv6(a)) {
              throw invalid(af, "must be a valid IPv6 address, not " + Printable.quoted(a));
            }
            addrs.add(a);
          }
          default -> {
            check(ApiValidation.dns1123Subdomain(a), af, a);
            addrs.add(a);
          }
        }
      }
      JsonNode c = e.path("conditions");
      boolean ready = bool(c, "ready", f + ".conditions.ready", true);
      boolean serving = bool(c, "serving", f + ".conditions.serving", true);
      boolean terminating = bool(c, "terminating", f + ".conditions.terminating", false);
      String hostname = text(e, "hostname", f + ".hostname", "");
      if (!hostname.isEmpty()) {
        check(ApiValidation.dns1123Label(hostname), f + ".hostname", hostname);
      }
      String nodeName = text(e, "nodeName", f + ".nodeName", "");
      if (!nodeName.isEmpty()) {
        check(ApiValidation.dns1123Subdomain(nodeName), f + ".nodeName", nodeName);
      }
      String zone = text(e, "zone", f + ".zone", "");
      check(ApiValidation.labelValue(zone), f + ".zone", zone);
      Set<String> zoneHints = new HashSet<>();
      JsonNode forZones = list(e.path("hints"), "forZones", f + ".hints.forZones");
      for (int k = 0; k < forZones.size(); k++) {
        String hf = f + ".hints.forZones[" + k + "].name";
        String z = text(forZones.get(k), "name", hf, "");
        check(z.isEmpty() ? "must not be empty" : ApiValidation.labelValue(z), hf, z);
        zoneHints.add(z);
      }
      Set<String> nodeHints = new HashSet<>();
      JsonNode forNodes = list(e.path("hints"), "forNodes", f + ".hints.forNodes");
      for (int k = 0; k < forNodes.size(); k++) {
        String hf = f + ".hints.forNodes[" + k + "].name";
        String n = text(forNodes.get(k), "name", hf, "");
        check(ApiValidation.dns1123Subdomain(n), hf, n);
        nodeHints.add(n);
      }
      eps.add(
          new EndpointSlice.SliceEndpoint(
              addrs, ready, serving, terminating, nodeName, zone, zoneHints, nodeHints));
    }
    return new EndpointSlice(
        ns, name, svc, addressType, ports, eps, lastChangeTriggerTime(meta, ns, name));
  }

  /** The EndpointSlice annotation upstream measures network programming latency from. */
  static final String LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time";

  /** RFC 3339 with optional fractions of a second, as Go's time.RFC3339Nano parses it. */
  private static final Pattern RFC3339 =
      Pattern.compile(
          "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})");

  /**
   * The slice's last-change-trigger-time, or null: absent, or not a time (upstream logs the bad
   * value and ignores it, as a slice is still good without it).
   */
  static Instant lastChangeTriggerTime(JsonNode meta, String ns, String name) {
    JsonNode v = meta.path("annotations").path(LAST_CHANGE_TRIGGER_TIME);
    if (v.isMissingNode() || v.isNull()) {
      return null;
    }
    String text = v.isTextual() ? v.asText() : v.toString();
    if (RFC3339.matcher(text).matches()) {
      try {
        return OffsetDateTime.parse(text, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
      } catch (DateTimeParseException e) {
        // Well-formed but not a date (month 13): ignored as below.
      }
    }
    LOG.warn(
        "EndpointSlice {}/{}: ignoring annotation {}: not an RFC 3339 time: {}",
        ns,
        name,
        LAST_CHANGE_TRIGGER_TIME,
        Printable.quoted(text));
    return null;
  }

  /** metadata.name, required and checked with {@code rule}. */
  static String name(JsonNode meta, java.util.function.Function<String, String> rule) {
    String v = text(meta, "name", "metadata.name", "");
    if (v.isEmpty()) {
      throw invalid("metadata.name", "metadata.name is missing");
    }
    check(rule.apply(v), "metadata.name", v);
    return v;
  }

  /** metadata.namespace, "default" when absent, a DNS-1123 label. */
  static String namespace(JsonNode meta) {
    String v = text(meta, "namespace", "metadata.namespace", "");
    if (v.isEmpty()) {
      v = "default"; // as kubectl fills in an empty namespace
    }
    check(ApiValidation.dns1123Label(v), "metadata.namespace", v);
    return v;
  }

  /** metadata.labels: qualified names mapped to label values, as ValidateLabels. */
  static void labels(JsonNode meta) {
    JsonNode labels = meta.path("labels");
    if (labels.isMissingNode() || labels.isNull()) {
      return;
    }
    if (!labels.isObject()) {
      throw invalid("metadata.labels", "must be a map of strings");
    }
    for (Map.Entry<String, JsonNode> e : labels.properties()) {
      check(ApiValidation.qualifiedName(e.getKey()), "metadata.labels", e.getKey());
      if (!e.getValue().isValueNode() || e.getValue().isNull()) {
        throw invalid("metadata.labels[" + Printable.shown(e.getKey()) + "]", "must be a string");
      }
      check(
          ApiValidation.labelValue(e.getValue().asText()),
          "metadata.labels[" + Printable.shown(e.getKey()) + "]",
          e.getValue().asText());
    }
  }

  private static TrafficPolicy policy(JsonNode spec, String field) {
    String v = text(spec, field, "spec." + field, "");
    try {
      return TrafficPolicy.parse(v);
    } catch (IllegalArgumentException e) {
      throw invalid(
          "spec." + field,
          "unsupported value "
              + Printable.quoted(v)
              + ": supported values: \"Cluster\", \"Local\"");
    }
  }

  /** spec.ports[].protocol: exactly TCP, UDP or SCTP (the API is case-sensitive); TCP if unset. */
  static Protocol protocol(JsonNode parent, String field) {
    String v = text(parent, "protocol", field, "");
    if (v.isEmpty()) {
      return Protocol.TCP;
    }
    if (!Set.of("TCP", "UDP", "SCTP").contains(v)) {
      throw invalid(
          field,
          "unknown protocol "
              + Printable.quoted(v)
              + ": supported values: \"SCTP\", \"TCP\", \"UDP\"");
    }
    return Protocol.valueOf(v);
  }

  /** targetPort: a port number or an IANA service name (a container port's name). */
  private static void targetPort(JsonNode n, String field) {
    if (n.isMissingNode() || n.isNull()) {
      return;
    }
    if (n.isTextual()) {
      check(ApiValidation.ianaServiceName(n.asText()), field, n.asText());
      return;
    }
    if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() < 1 || n.asInt() > 65535) {
      throw invalid(
          field,
          "invalid port "
              + Printable.quoted(n.asText())
              + ": must be between 1 and 65535, inclusive");
    }
  }

  private static List<String> ips(JsonNode list, String field) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < list.size(); i++) {
      String f = field + "[" + i + "]";
      out.add(ip(text(list, i, f), f));
    }
    return out;
  }

  /** An IP literal read as ParseIPSloppy; returns its canonical form. */
  static String ip(String v, String field) {
    String canonical = Ip.parseSloppy(v);
    if (canonical == null) {
      throw invalid(field, "invalid IP address " + Printable.quoted(v));
    }
    return canonical;
  }

  /**
   * A port number field: 1..65535 when set; an unset optional one is 0. {@code name} is the field's
   * own name, kept in the message ("invalid port \"70000\"") as before.
   */
  static int port(JsonNode parent, String name, String field, boolean required) {
    JsonNode n = parent.path(name);
    if (n.isMissingNode() || n.isNull()) {
      if (required) {
        throw invalid(field, name + " is missing");
      }
      return 0;
    }
    if (!n.isIntegralNumber()
        || !n.canConvertToInt()
        || n.asInt() < 0
        || n.asInt() > 65535
        || (required && n.asInt() == 0)) {
      throw invalid(
          field,
          "invalid "
              + name
              + " "
              + Printable.quoted(n.asText())
              + ": must be between 1 and 65535, inclusive");
    }
    return n.asInt();
  }

  /** A list field: empty when absent or null; anything but a list is an error. */
  static JsonNode list(JsonNode parent, String name, String field) {
    JsonNode n = parent.path(name);
    if (n.isMissingNode() || n.isNull()) {
      return com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.arrayNode();
    }
    if (!n.isArray()) {
      throw invalid(field, "must be a list");
    }
    return n;
  }

  /** A boolean field; {@code dflt} when absent or null (as upstream defaults conditions). */
  private static boolean bool(JsonNode parent, String name, String field, boolean dflt) {
    JsonNode n = parent.path(name);
    if (n.isMissingNode() || n.isNull()) {
      return dflt;
    }
    if (!n.isBoolean()) {
      throw invalid(field, "must be a boolean, not " + Printable.quoted(n.toString()));
    }
    return n.booleanValue();
  }

  /** A string field; {@code dflt} when absent or null; anything but a string is an error. */
  static String text(JsonNode parent, String name, String field, String dflt) {
    JsonNode n = parent.path(name);
    if (n.isMissingNode() || n.isNull()) {
      return dflt;
    }
    if (!n.isTextual()) {
      throw invalid(field, "must be a string, not " + Printable.quoted(n.toString()));
    }
    return shared(n.asText());
  }

  /**
   * One copy of each short field value (namespaces, names, port names, types, node names): they
   * repeat across objects (a Service's name is its slices' label too), and at 30k services the
   * copies were a quarter of the manifests' live heap. IP lists are not read here; they are unique.
   */
  private static String shared(String s) {
    return s.intern();
  }

  private static String text(JsonNode list, int i, String field) {
    JsonNode n = list.get(i);
    if (n == null || !n.isTextual()) {
      throw invalid(field, "must be a string, not " + Printable.quoted(String.valueOf(n)));
    }
    return n.asText();
  }

  private static void check(String reason, String field, String value) {
    if (reason != null) {
      throw invalid(field, "invalid value " + Printable.quoted(value) + ": " + reason);
    }
  }

  static IllegalArgumentException invalid(String field, String reason) {
    return new IllegalArgumentException(field + ": " + reason);
  }
}
