package dev.svcproxy.doctor;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.svcproxy.model.Ip;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the tables of {@code kubectl get svc,ep,endpointslices [-A] [-o wide]} into the objects
 * they show, as a {@code v1/List} the manifest parser validates. The tables lack what the objects
 * hold beyond them (traffic policies, target ports, port names, readiness, node names): what was
 * assumed is said once per kind in {@link Result#assumptions()}; a row that cannot be read is a
 * warning naming its source and line.
 */
public final class KubectlTable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** The List document (JSON text), the warnings and the assumptions made. */
  public record Result(String json, List<String> warnings, List<String> assumptions) {
    public Result {
      warnings = List.copyOf(warnings);
      assumptions = List.copyOf(assumptions);
    }
  }

  /** One table line: its cells by column header, and where it is. */
  private record Row(
      String kind, Map<String, String> cells, String where, String text, int index) {}

  private static final Pattern SPLIT = Pattern.compile("\\s{2,}|\\t+");
  private static final Pattern PORT =
      Pattern.compile("^(\\d{1,5})(?::(\\d{1,5}))?/(TCP|UDP|SCTP)$", Pattern.CASE_INSENSITIVE);
  private static final Pattern MORE = Pattern.compile("\\s*\\+\\s*(\\d+)\\s+more\\.\\.\\.\\s*$");
  private static final Pattern SLICE_SUFFIX = Pattern.compile("^(.+)-[a-z0-9]{5}$");

  private final List<String> warnings = new ArrayList<>();
  private final Set<String> assumptions = new LinkedHashSet<>();

  /** Pod IP to the node it runs on, from {@code kubectl get pods -o wide}. */
  private final Map<String, String> podNodes = new LinkedHashMap<>();

  private KubectlTable() {}

  /** Reads the table blocks (each a list of lines with their source and line numbers). */
  public static Result read(List<PastedInput.Block> blocks) {
    KubectlTable t = new KubectlTable();
    List<Row> rows = new ArrayList<>();
    for (PastedInput.Block b : blocks) {
      t.rows(b, rows);
    }
    return t.build(rows);
  }

  private void warn(String where, String what) {
    warnings.add(where + ": " + what);
  }

  private void rows(PastedInput.Block b, List<Row> out) {
    List<String> where = new ArrayList<>();
    for (int n : b.numbers()) {
      where.add(b.source() + ":" + n);
    }
    rows(b.lines(), where, out);
  }

  /** Multi-word column names, and the one-word form a page that collapsed spaces made of one. */
  private static final Map<String, String> TWO_WORDS =
      Map.of(
          "NOMINATED", "NODE",
          "READINESS", "GATES");

  /**
   * The column names of a header line: kubectl pads them with two or more spaces; where a page
   * collapsed that to one ("NAME TYPE CLUSTER-IP"), the words are the names, except kubectl's own
   * two-word ones ("NOMINATED NODE", "READINESS GATES", or "READINESSGATES" once a space is lost).
   */
  static List<String> header(String line) {
    List<String> out = new ArrayList<>();
    for (String cell : SPLIT.split(line.strip())) {
      if (cell.equals("NOMINATED NODE") || cell.equals("READINESS GATES")) {
        out.add(cell);
        continue;
      }
      String[] w = cell.split(" +");
      for (int i = 0; i < w.length; i++) {
        if (TWO_WORDS.containsKey(w[i])
            && i + 1 < w.length
            && w[i + 1].equals(TWO_WORDS.get(w[i]))) {
          out.add(w[i] + " " + w[++i]);
        } else if (w[i].equals("READINESSGATES")) {
          out.add("READINESS GATES");
        } else if (w[i].equals("NOMINATEDNODE")) {
          out.add("NOMINATED NODE");
        } else {
          out.add(w[i]);
        }
      }
    }
    return out;
  }

  /** Columns whose value may hold spaces: they take what the single-word columns around leave. */
  private static final Set<String> SPACED =
      Set.of("OS-IMAGE", "KERNEL-VERSION", "ENDPOINTS", "RESTARTS", "MESSAGE");

  private static final Pattern AGE = Pattern.compile("^(\\d+[smhdy])+$|^<invalid>$|^<unknown>$");
  private static final Pattern DNS_NAME =
      Pattern.compile("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$|^<none>$");

  /**
   * Whether {@code value} has the shape a {@code column}'s values have: what tells a row read word
   * by word (its spacing lost) from one whose words shifted into the wrong columns.
   */
  static boolean shaped(String column, String value) {
    return switch (column) {
      case "CLUSTER-IP", "EXTERNAL-IP", "INTERNAL-IP", "IP" ->
          none(value)
              || value.equals("None")
              || List.of(value.split(",")).stream().allMatch(Ip::isIp)
              || (column.equals("EXTERNAL-IP") && value.matches("[a-z0-9.-]+"));
      case "AGE" -> AGE.matcher(value).matches();
      case "NODE", "NOMINATED NODE" -> DNS_NAME.matcher(value).matches();
      case "READY" -> value.matches("\\d+/\\d+|True|False|Unknown");
      case "TYPE" -> value.matches("ClusterIP|NodePort|LoadBalancer|ExternalName");
      case "VERSION" -> value.matches("v\\d+\\.\\d+.*");
      case "PORT(S)" -> none(value) || value.matches("[\\w:/,.-]+");
      case "ADDRESSTYPE" -> value.matches("IPv4|IPv6|FQDN");
      case "STATUS", "ROLES", "NAME", "NAMESPACE", "SELECTOR", "PORTS" -> !value.isEmpty();
      default -> true;
    };
  }

  /**
   * The cells of a row whose column spacing was lost, read word by word: single-word columns from
   * the left up to the first column that may hold spaces, and from the right back to the last one;
   * the words between go to the one spaced column there (several spaced columns side by side cannot
   * be told apart: left unread, null). Null when the words do not fit the header or a value has not
   * its column's shape.
   */
  static List<String> byShape(List<String> header, List<String> words) {
    int n = header.size();
    String[] cells = new String[n];
    int l = 0;
    int wl = 0;
    while (l < n && !SPACED.contains(header.get(l))) {
      if (wl >= words.size()) {
        return null;
      }
      cells[l++] = words.get(wl++);
    }
    int r = n - 1;
    int wr = words.size() - 1;
    while (r >= l && !SPACED.contains(header.get(r))) {
      if (wr < wl) {
        return null;
      }
      cells[r--] = words.get(wr--);
    }
    int spaced = r - l + 1;
    if (spaced == 0 && wl != wr + 1) {
      return null; // more words than single-word columns, and no column to take them
    }
    if (spaced > 0 && wr - wl + 1 < spaced) {
      return null;
    }
    if (spaced == 1) {
      cells[l] = String.join(" ", words.subList(wl, wr + 1));
    }
    for (int c = 0; c < n; c++) {
      if (cells[c] != null && !shaped(header.get(c), cells[c])) {
        return null;
      }
    }
    return java.util.Arrays.asList(cells);
  }

  private void rows(List<String> lines, List<String> wheres, List<Row> out) {
    List<String> header = null;
    String kind = null;
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i);
      String where = wheres.get(i);
      if (line.isBlank() || dev.svcproxy.trace.bundle.Prompts.command(line) != null) {
        continue;
      }
      List<String> cells = List.of(SPLIT.split(line.strip()));
      String first = line.strip().split("\\s+", 2)[0];
      if (first.equals("NAME") || first.equals("NAMESPACE")) {
        cells = header(line);
        header = cells;
        kind =
            cells.contains("ADDRESSTYPE")
                ? "EndpointSlice"
                : cells.contains("CLUSTER-IP")
                    ? "Service"
                    : cells.contains("ENDPOINTS")
                        ? "Endpoints"
                        : cells.contains("RESTARTS")
                            ? "Pod"
                            : cells.contains("INTERNAL-IP") ? "Node" : null;
        if (kind == null) {
          warn(where, "a kubectl table of a kind the doctor does not read, skipped: " + line);
          header = null;
        }
        continue;
      }
      if (header == null) {
        if (kind == null) {
          warn(where, "a table row without a header line, skipped: " + line.strip());
        }
        continue;
      }
      if (cells.size() != header.size()) {
        // The column spacing was lost (a web page collapses runs of spaces): read by shapes.
        List<String> shaped = byShape(header, List.of(line.strip().split("\\s+")));
        if (shaped == null) {
          warn(
              where,
              "expected "
                  + header.size()
                  + " columns ("
                  + String.join(" ", header)
                  + "), got "
                  + cells.size()
                  + ", row skipped: "
                  + line.strip());
          continue;
        }
        cells = shaped;
      }
      Map<String, String> m = new LinkedHashMap<>();
      for (int c = 0; c < header.size(); c++) {
        if (cells.get(c) != null) {
          m.put(header.get(c), cells.get(c));
        }
      }
      String name = m.get("NAME");
      int slash = name.indexOf('/');
      if (slash >= 0) {
        // kubectl get svc,ep names each row by its resource: service/web, endpoints/web.
        String res = name.substring(0, slash).toLowerCase(Locale.ROOT);
        String rowKind =
            res.startsWith("service")
                ? "Service"
                : res.startsWith("endpointslice")
                    ? "EndpointSlice"
                    : res.startsWith("endpoints")
                        ? "Endpoints"
                        : res.equals("pod") || res.equals("pods")
                            ? "Pod"
                            : res.equals("node") || res.equals("nodes") ? "Node" : null;
        if (rowKind == null || !rowKind.equals(kind)) {
          warn(where, "a row of " + res + " under a " + kind + " header, skipped");
          continue;
        }
        m.put("NAME", name.substring(slash + 1));
      }
      out.add(new Row(kind, m, where, line.strip(), i));
    }
  }

  /** A pod of a {@code kubectl get pods -o wide} table: its address, node and line. */
  public record PodRow(String name, String ip, String node, int line, String text) {}

  /**
   * The pods of the tables in {@code text} ({@link PastedInput#KUBECTL_TABLES}) that show an IP and
   * a node, {@code line} 1-based in {@code text}; rows not read are left out silently (the paste's
   * warnings name them).
   */
  public static List<PodRow> pods(String text) {
    List<String> lines = List.of(text.split("\n", -1));
    List<String> wheres = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      wheres.add(Integer.toString(i + 1));
    }
    List<Row> rows = new ArrayList<>();
    new KubectlTable().rows(lines, wheres, rows);
    List<PodRow> out = new ArrayList<>();
    for (Row r : rows) {
      String ip = r.cells().get("IP");
      String node = r.cells().get("NODE");
      if (r.kind().equals("Pod") && ip != null && Ip.isIp(ip) && node != null && !none(node)) {
        out.add(new PodRow(r.cells().get("NAME"), ip, node, r.index() + 1, r.text()));
      }
    }
    return out;
  }

  private Result build(List<Row> rows) {
    for (Row r : rows) {
      String ip = r.cells().get("IP");
      String node = r.cells().get("NODE");
      if (r.kind().equals("Pod") && ip != null && Ip.isIp(ip) && node != null && !none(node)) {
        podNodes.put(ip, node);
      }
    }
    ObjectNode list = JSON.createObjectNode();
    list.put("apiVersion", "v1");
    list.put("kind", "List");
    ArrayNode items = list.putArray("items");
    // namespace/name -> the Service's ports (protocol by port), to type the endpoints' ports.
    Map<String, List<String[]>> servicePorts = new LinkedHashMap<>();
    for (Row r : rows) {
      if (r.kind().equals("Service")) {
        ObjectNode s = service(r, servicePorts);
        if (s != null) {
          items.add(s);
        }
      }
    }
    for (Row r : rows) {
      ObjectNode o =
          switch (r.kind()) {
            case "Endpoints" -> endpoints(r, servicePorts);
            case "EndpointSlice" -> slice(r, servicePorts);
            default -> null;
          };
      if (o != null) {
        items.add(o);
      }
    }
    try {
      return new Result(JSON.writeValueAsString(list), warnings, List.copyOf(assumptions));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private String namespace(Row r) {
    String ns = r.cells().get("NAMESPACE");
    if (ns == null) {
      assumptions.add(
          "kubectl tables without a NAMESPACE column (no -A): their objects are assumed to be in"
              + " namespace default");
      return "default";
    }
    return ns;
  }

  private static boolean none(String v) {
    return v == null || v.equals("<none>") || v.equals("<pending>") || v.equals("<unknown>");
  }

  private ObjectNode service(Row r, Map<String, List<String[]>> servicePorts) {
    String type = r.cells().getOrDefault("TYPE", "ClusterIP");
    if (!List.of("ClusterIP", "NodePort", "LoadBalancer", "ExternalName").contains(type)) {
      warn(r.where(), "unknown Service type " + type + ", row skipped");
      return null;
    }
    String ns = namespace(r);
    ObjectNode s = object("v1", "Service", ns, r.cells().get("NAME"));
    ObjectNode spec = s.putObject("spec");
    spec.put("type", type);
    String clusterIp = r.cells().getOrDefault("CLUSTER-IP", "<none>");
    if (type.equals("ExternalName")) {
      spec.put("externalName", r.cells().getOrDefault("EXTERNAL-IP", "example.invalid"));
    } else if (clusterIp.equals("None")) {
      spec.put("clusterIP", "None");
    } else if (Ip.isIpv4(clusterIp)) {
      spec.put("clusterIP", clusterIp);
    } else {
      warn(r.where(), "CLUSTER-IP " + clusterIp + " is not an IPv4 address, row skipped");
      return null;
    }
    List<String[]> ports = new ArrayList<>();
    String portCell = r.cells().getOrDefault("PORT(S)", "<none>");
    ArrayNode pn = spec.putArray("ports");
    if (!none(portCell)) {
      String[] ps = portCell.split(",");
      for (String p : ps) {
        Matcher m = PORT.matcher(p.strip());
        if (!m.matches() || Integer.parseInt(m.group(1)) > 65535) {
          warn(r.where(), "not a port (PORT/PROTO or PORT:NODEPORT/PROTO): " + p + ", row skipped");
          return null;
        }
        String proto = m.group(3).toUpperCase(Locale.ROOT);
        // -o wide shows neither names nor target ports: named by number when there are several,
        // as the API requires names then; the target port is assumed to be the port itself.
        String name = ps.length > 1 ? m.group(1) + "-" + proto.toLowerCase(Locale.ROOT) : "";
        ObjectNode port = pn.addObject();
        if (!name.isEmpty()) {
          port.put("name", name);
        }
        port.put("port", Integer.parseInt(m.group(1)));
        port.put("protocol", proto);
        if (m.group(2) != null) {
          port.put("nodePort", Integer.parseInt(m.group(2)));
        }
        ports.add(new String[] {name, proto});
      }
    }
    assumptions.add(
        "Services from a kubectl table: traffic policies unknown (a kubectl svc table does not"
            + " show them; the Services built from it carry the default, traffic policies Cluster),"
            + " no session affinity, each target port equal to its port, and port names unknown");
    String ext = r.cells().get("EXTERNAL-IP");
    if (!none(ext) && !type.equals("ExternalName")) {
      List<String> ips = List.of(ext.split(","));
      for (String ip : ips) {
        if (!Ip.isIp(ip)) {
          warn(r.where(), "EXTERNAL-IP " + ip + " is not an IP address, row skipped");
          return null;
        }
      }
      if (type.equals("LoadBalancer")) {
        ArrayNode ing = s.putObject("status").putObject("loadBalancer").putArray("ingress");
        ips.forEach(ip -> ing.addObject().put("ip", ip));
      } else {
        ArrayNode e = spec.putArray("externalIPs");
        ips.forEach(e::add);
      }
    }
    String sel = r.cells().get("SELECTOR");
    if (!none(sel)) {
      ObjectNode selector = spec.putObject("selector");
      for (String kv : sel.split(",")) {
        int eq = kv.indexOf('=');
        if (eq > 0) {
          selector.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
      }
    }
    servicePorts.put(ns + "/" + r.cells().get("NAME"), ports);
    return s;
  }

  /** kubectl get ep -o wide: "10.0.0.1:80,10.0.0.2:80 + 1 more...". */
  private ObjectNode endpoints(Row r, Map<String, List<String[]>> servicePorts) {
    String ns = namespace(r);
    String name = r.cells().get("NAME");
    String cell = more(r, r.cells().getOrDefault("ENDPOINTS", "<none>"));
    List<String[]> svc = servicePorts.get(ns + "/" + name);
    if (svc != null && svc.size() > 1) {
      warn(
          r.where(),
          "Endpoints of a Service with several ports: a table does not say which address:port"
              + " serves which port, not read");
      return null;
    }
    List<String> ips = new ArrayList<>();
    Set<Integer> ports = new LinkedHashSet<>();
    if (!none(cell)) {
      for (String ep : cell.split(",")) {
        int colon = ep.lastIndexOf(':');
        String ip = colon < 0 ? ep : ep.substring(0, colon);
        String port = colon < 0 ? "" : ep.substring(colon + 1);
        if (!Ip.isIpv4(ip) || !port.matches("\\d{1,5}") || Integer.parseInt(port) > 65535) {
          warn(r.where(), "not an IPv4:PORT endpoint: " + ep + ", row skipped");
          return null;
        }
        ips.add(ip);
        ports.add(Integer.parseInt(port));
      }
    }
    if (ports.size() > 1) {
      warn(
          r.where(),
          "endpoints on several ports for one Service port: a table does not say which, not read");
      return null;
    }
    return slice(r, ns, name, name, ips, List.copyOf(ports), svc);
  }

  /** kubectl get endpointslices -o wide: NAME ADDRESSTYPE PORTS ENDPOINTS. */
  private ObjectNode slice(Row r, Map<String, List<String[]>> servicePorts) {
    String ns = namespace(r);
    String name = r.cells().get("NAME");
    if (!"IPv4".equals(r.cells().get("ADDRESSTYPE"))) {
      return null; // IPv6 and FQDN slices are outside an IPv4 node's trace.
    }
    Matcher sm = SLICE_SUFFIX.matcher(name);
    String service = sm.matches() ? sm.group(1) : name;
    assumptions.add(
        "EndpointSlices from a kubectl table: each belongs to the Service named by its name"
            + " without the generated suffix (the label is not shown)");
    String cell = more(r, r.cells().getOrDefault("ENDPOINTS", "<none>"));
    List<String> ips = new ArrayList<>();
    if (!none(cell)) {
      for (String ip : cell.split(",")) {
        if (!Ip.isIpv4(ip)) {
          warn(r.where(), "not an IPv4 address: " + ip + ", row skipped");
          return null;
        }
        ips.add(ip);
      }
    }
    List<Integer> ports = new ArrayList<>();
    String pc = r.cells().getOrDefault("PORTS", "<unset>");
    if (!none(pc) && !pc.equals("<unset>")) {
      for (String p : pc.split(",")) {
        if (!p.matches("\\d{1,5}") || Integer.parseInt(p) > 65535) {
          warn(r.where(), "not a port: " + p + ", row skipped");
          return null;
        }
        ports.add(Integer.parseInt(p));
      }
    }
    List<String[]> svc = servicePorts.get(ns + "/" + service);
    if (ports.size() > 1) {
      warn(
          r.where(),
          "an EndpointSlice with several ports: a table does not say which serves which Service"
              + " port, not read");
      return null;
    }
    return slice(r, ns, name, service, ips, ports, svc);
  }

  private ObjectNode slice(
      Row r,
      String ns,
      String name,
      String service,
      List<String> ips,
      List<Integer> ports,
      List<String[]> svcPorts) {
    assumptions.add(
        "endpoints from a kubectl table: assumed ready (tables show ready addresses only), on the"
            + " node a pasted `kubectl get pods -o wide` shows for their address, else on no known"
            + " node");
    ObjectNode s = object("discovery.k8s.io/v1", "EndpointSlice", ns, name);
    ((ObjectNode) s.get("metadata")).putObject("labels").put("kubernetes.io/service-name", service);
    s.put("addressType", "IPv4");
    ArrayNode pn = s.putArray("ports");
    String proto = "TCP";
    String pname = "";
    if (svcPorts != null && svcPorts.size() == 1) {
      pname = svcPorts.get(0)[0];
      proto = svcPorts.get(0)[1];
    } else if (svcPorts == null) {
      assumptions.add("endpoints without their Service in the tables: assumed TCP, unnamed port");
    }
    for (int p : ports) {
      ObjectNode port = pn.addObject();
      port.put("name", pname);
      port.put("port", p);
      port.put("protocol", proto);
    }
    ArrayNode eps = s.putArray("endpoints");
    for (String ip : ips) {
      ObjectNode e = eps.addObject();
      e.putArray("addresses").add(ip);
      e.putObject("conditions").put("ready", true);
      if (podNodes.containsKey(ip)) {
        e.put("nodeName", podNodes.get(ip));
      }
    }
    return s;
  }

  /** The cell without kubectl's "+ N more..." (which it truncates), warning about the loss. */
  private String more(Row r, String cell) {
    Matcher m = MORE.matcher(cell);
    if (!m.find()) {
      return cell;
    }
    warn(
        r.where(),
        "kubectl showed only some endpoints (\"+ "
            + m.group(1)
            + " more...\"): the others are unknown and left out; paste -o yaml for all of them");
    return cell.substring(0, m.start()).strip();
  }

  private static ObjectNode object(String apiVersion, String kind, String ns, String name) {
    ObjectNode o = JSON.createObjectNode();
    o.put("apiVersion", apiVersion);
    o.put("kind", kind);
    ObjectNode meta = o.putObject("metadata");
    meta.put("name", name);
    meta.put("namespace", ns);
    return o;
  }
}
