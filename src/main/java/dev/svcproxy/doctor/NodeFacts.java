package dev.svcproxy.doctor;

import com.fasterxml.jackson.databind.JsonNode;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.source.YamlDocuments;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What is known about the node beyond its kernel state, from the bundle's {@code node.yaml}
 * (written by a person, or by {@code doctor --live} from the proxy's command line): its name,
 * addresses, the pod CIDRs, the service CIDRs, and the proxy's mode and flags. Everything is
 * optional; checks that need a fact the input lacks say what they assumed.
 *
 * <pre>
 * nodeName: node1
 * nodeIPs: [192.168.1.11]
 * podCIDRs: [10.244.1.0/24]          # this node's (spec.podCIDRs)
 * clusterCIDRs: [10.244.0.0/16]      # the cluster's pod network
 * serviceCIDRs: [10.96.0.0/12]
 * proxyMode: ipvs                    # iptables, ipvs, nftables
 * proxyArgs: [--proxy-mode=ipvs, --cluster-cidr=10.244.0.0/16]
 * </pre>
 *
 * @param proxyArgs the proxy's command line flags as given, when known (empty list: known to have
 *     none; empty optional: unknown)
 */
public record NodeFacts(
    Optional<String> nodeName,
    List<String> nodeIps,
    List<Cidr> podCidrs,
    List<Cidr> clusterCidrs,
    List<Cidr> serviceCidrs,
    Optional<String> proxyMode,
    Optional<List<String>> proxyArgs) {
  public static final String FILE = "node.yaml";

  private static final Set<String> FIELDS =
      Set.of(
          "nodeName",
          "nodeIPs",
          "podCIDRs",
          "clusterCIDRs",
          "serviceCIDRs",
          "proxyMode",
          "proxyArgs");

  private static final Set<String> MODES = Set.of("iptables", "ipvs", "nftables");

  public NodeFacts {
    nodeIps = List.copyOf(nodeIps);
    podCidrs = List.copyOf(podCidrs);
    clusterCidrs = List.copyOf(clusterCidrs);
    serviceCidrs = List.copyOf(serviceCidrs);
    proxyArgs = proxyArgs.map(List::copyOf);
  }

  /** Nothing known. */
  public static NodeFacts unknown() {
    return new NodeFacts(
        Optional.empty(),
        List.of(),
        List.of(),
        List.of(),
        List.of(),
        Optional.empty(),
        Optional.empty());
  }

  /** The facts and what was wrong with the file (each naming node.yaml:line). */
  public record Parsed(NodeFacts facts, List<String> warnings) {
    public Parsed {
      warnings = List.copyOf(warnings);
    }
  }

  /**
   * Reads {@code node.yaml}; a field that is malformed is left unknown with a warning naming its
   * line, so one typo does not hide the other facts.
   */
  public static Parsed parse(String text) {
    List<String> warnings = new ArrayList<>();
    List<YamlDocuments.Document> docs = YamlDocuments.read(text);
    if (docs.isEmpty() || docs.get(0).tree() == null) {
      String why = docs.isEmpty() ? "empty" : docs.get(0).error();
      if (why != null) {
        warnings.add(FILE + ":" + (docs.isEmpty() ? 1 : docs.get(0).firstLine()) + ": " + why);
      }
      return new Parsed(unknown(), warnings);
    }
    YamlDocuments.Document doc = docs.get(0);
    JsonNode root = doc.tree();
    String at = FILE + ":" + doc.firstLine() + ": ";
    if (!root.isObject()) {
      warnings.add(at + "expected a mapping of node facts");
      return new Parsed(unknown(), warnings);
    }
    root.fieldNames()
        .forEachRemaining(
            f -> {
              if (!FIELDS.contains(f)) {
                warnings.add(at + "unknown field \"" + safe(f) + "\" (ignored)");
              }
            });
    Optional<String> name = text(root, "nodeName", at, warnings);
    List<String> ips = new ArrayList<>();
    for (String ip : strings(root, "nodeIPs", at, warnings)) {
      if (dev.svcproxy.model.Ip.isIpv4(ip) || dev.svcproxy.model.Ip.isIpv6(ip)) {
        ips.add(ip);
      } else {
        warnings.add(at + "nodeIPs: not an IP address: \"" + safe(ip) + "\"");
      }
    }
    Optional<String> mode = text(root, "proxyMode", at, warnings);
    if (mode.isPresent() && !MODES.contains(mode.get())) {
      warnings.add(
          at + "proxyMode: expected iptables, ipvs or nftables, got \"" + safe(mode.get()) + "\"");
      mode = Optional.empty();
    }
    Optional<List<String>> args =
        root.has("proxyArgs")
            ? Optional.of(strings(root, "proxyArgs", at, warnings))
            : Optional.empty();
    return new Parsed(
        new NodeFacts(
            name,
            ips,
            cidrs(root, "podCIDRs", at, warnings),
            cidrs(root, "clusterCIDRs", at, warnings),
            cidrs(root, "serviceCIDRs", at, warnings),
            mode,
            args),
        warnings);
  }

  /** The value of {@code --flag} (or {@code --flag=value}) in the proxy's arguments, if known. */
  public Optional<String> flag(String flag) {
    if (proxyArgs.isEmpty()) {
      return Optional.empty();
    }
    List<String> a = proxyArgs.get();
    for (int i = 0; i < a.size(); i++) {
      String s = a.get(i);
      if (s.startsWith(flag + "=")) {
        return Optional.of(s.substring(flag.length() + 1));
      }
      if (s.equals(flag)) {
        return Optional.of(
            i + 1 < a.size() && !a.get(i + 1).startsWith("-") ? a.get(i + 1) : "true");
      }
    }
    return Optional.empty();
  }

  private static Optional<String> text(JsonNode root, String f, String at, List<String> w) {
    JsonNode n = root.get(f);
    if (n == null || n.isNull()) {
      return Optional.empty();
    }
    if (!n.isValueNode() || n.asText().isBlank() || n.asText().length() > 253) {
      w.add(at + f + ": expected a short string");
      return Optional.empty();
    }
    return Optional.of(n.asText());
  }

  private static List<String> strings(JsonNode root, String f, String at, List<String> w) {
    JsonNode n = root.get(f);
    if (n == null || n.isNull()) {
      return List.of();
    }
    if (!n.isArray()) {
      w.add(at + f + ": expected a list");
      return List.of();
    }
    List<String> out = new ArrayList<>();
    for (JsonNode e : n) {
      if (e.isValueNode() && !e.asText().isBlank() && e.asText().length() <= 4096) {
        out.add(e.asText());
      } else {
        w.add(at + f + ": expected a list of strings");
      }
    }
    return out;
  }

  private static List<Cidr> cidrs(JsonNode root, String f, String at, List<String> w) {
    List<Cidr> out = new ArrayList<>();
    for (String s : strings(root, f, at, w)) {
      try {
        out.add(Cidr.parseSloppy(s));
      } catch (IllegalArgumentException e) {
        w.add(at + f + ": invalid CIDR \"" + safe(s) + "\"");
      }
    }
    return out;
  }

  /** Text from the file as a warning may show it: printable, bounded. */
  private static String safe(String s) {
    String t = s.length() > 64 ? s.substring(0, 64) + "..." : s;
    return t.replaceAll("[^\\x20-\\x7e]", "?");
  }
}
