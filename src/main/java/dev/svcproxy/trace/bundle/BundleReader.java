package dev.svcproxy.trace.bundle;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.svcproxy.ipvs.IpvsConnection;
import dev.svcproxy.ipvs.IpvsConnectionCodec;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.IpvsadmCodec;
import dev.svcproxy.ipvs.IpvsadmListing;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.netfilter.ConntrackCodec;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.Ruleset;
import dev.svcproxy.trace.NodeState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Reads a node bundle (design.md §4) into a NodeState. Every file is optional; what a missing file
 * leaves unknown is noted, and every line that cannot be understood becomes a warning naming its
 * file and line.
 */
public final class BundleReader {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<String> warnings = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();

  /**
   * Files read from a bundle directory whose last byte is not a line end: a capture always ends its
   * output with one, so such a file was cut (a copy or upload interrupted).
   */
  private final java.util.Set<String> unterminated = new java.util.HashSet<>();

  /** Whether the files were read from a bundle directory (not pasted, not a live capture). */
  private boolean fromDisk;

  private BundleReader() {}

  /** Reads the bundle in {@code dir}. */
  public static NodeState read(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException("--bundle " + dir + ": not a directory");
    }
    return new BundleReader().load(dir);
  }

  /** A bundle read: the node state and the text of every file it was read from. */
  public record Bundle(NodeState node, Map<String, String> files, List<String> fileWarnings) {
    public Bundle {
      files = Map.copyOf(files);
      fileWarnings = List.copyOf(fileWarnings);
    }
  }

  /**
   * Reads the bundle in {@code dir}, keeping each file's text (decoded as {@link #read} decodes it)
   * so findings can cite its lines.
   */
  public static Bundle readBundle(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException("--bundle " + dir + ": not a directory");
    }
    BundleReader r = new BundleReader();
    Map<String, String> files = r.loadFiles(dir);
    List<String> fileWarnings = List.copyOf(r.warnings);
    return new Bundle(r.build(files), files, fileWarnings);
  }

  /** Parses `conntrack -L` output on its own (warnings dropped). */
  public static List<NodeState.ConntrackEntry> parseConntrack(String text) {
    return new BundleReader().conntrack("conntrack", text);
  }

  /** Builds a NodeState from file contents keyed by bundle file name (tests, live capture). */
  public static NodeState fromFiles(Map<String, String> files) {
    return new BundleReader().build(files);
  }

  private NodeState load(Path dir) {
    return build(loadFiles(dir));
  }

  /**
   * Files a capture never writes empty (BundleCapture leaves out a command that printed nothing):
   * empty in a bundle, the file was lost on its way (a failed copy, a full disk). Not
   * proxy-process.txt: the capture writes it empty when it looked and found no proxy running.
   */
  private static final java.util.Set<String> NEVER_EMPTY =
      java.util.Set.of(
          "iptables-save.txt",
          "iptables-legacy-save.txt",
          "nft-ruleset.json",
          "nft-ruleset.txt",
          "conntrack-stats.txt",
          "ip-addr.json",
          "ip-addr.txt",
          "ip-route.json",
          "ip-route.txt",
          "ip-rule.json",
          "ip-rule.txt",
          "sysctl.txt",
          "node.yaml",
          "cluster.json");

  /**
   * Reads the files of {@code dir}: what cannot be read (an unreadable file, a directory under a
   * bundle file's name, a file that is never empty but is) is a warning naming it and is read as
   * missing; a bundle with nothing readable at all is an input error. Control characters become
   * U+FFFD (see {@link #sanitise}).
   */
  private Map<String, String> loadFiles(Path dir) {
    fromDisk = true;
    Map<String, String> files = new LinkedHashMap<>();
    List<String> unusable = new ArrayList<>();
    List<Path> paths;
    try (Stream<Path> s = Files.walk(dir, 2)) {
      paths = s.filter(p -> !p.equals(dir)).sorted().toList();
    } catch (IOException | UncheckedIOException e) {
      throw new IllegalArgumentException(
          "--bundle " + dir + ": not readable (" + e.getMessage() + ")");
    }
    for (Path p : paths) {
      String name = dir.relativize(p).toString().replace('\\', '/');
      if (Files.isDirectory(p)) {
        if (isBundleFile(name)) {
          warnings.add(name + ": a directory, not a file: not read");
          unusable.add(name);
        }
        continue;
      }
      if (!Files.isRegularFile(p)) {
        continue;
      }
      byte[] bytes;
      try {
        bytes = Files.readAllBytes(p);
      } catch (IOException e) {
        warnings.add(name + ": not readable (" + e.getClass().getSimpleName() + "): not read");
        unusable.add(name);
        continue;
      }
      if (bytes.length > 0 && bytes[bytes.length - 1] != '\n') {
        unterminated.add(name);
      }
      String text =
          isBundleFile(name)
              ? sanitise(name, new String(bytes, StandardCharsets.UTF_8), warnings)
              : decode(name, bytes);
      if (text.isBlank() && NEVER_EMPTY.contains(name)) {
        warnings.add(
            name
                + ": empty, though `"
                + commandOf(name)
                + "` always prints something: the capture of it was lost; read as missing");
        unusable.add(name);
        continue;
      }
      files.put(name, text);
    }
    if (files.values().stream().allMatch(String::isBlank)) {
      throw new IllegalArgumentException(
          "--bundle "
              + dir
              + ": nothing readable ("
              + (paths.isEmpty()
                  ? "the directory is empty"
                  : "every file is empty or unreadable: "
                      + String.join(
                          ", ",
                          paths.stream()
                              .map(p -> dir.relativize(p).toString().replace('\\', '/'))
                              .toList()))
              + ")");
    }
    return files;
  }

  /** The command behind a bundle file, for messages. */
  private static String commandOf(String file) {
    return switch (file) {
      case "iptables-save.txt" -> "iptables-save";
      case "iptables-legacy-save.txt" -> "iptables-legacy-save";
      case "nft-ruleset.json", "nft-ruleset.txt" -> "nft list ruleset";
      case "conntrack-stats.txt" -> "conntrack -S";
      case "ip-addr.json", "ip-addr.txt" -> "ip addr";
      case "ip-route.json", "ip-route.txt" -> "ip route show table all";
      case "ip-rule.json", "ip-rule.txt" -> "ip rule";
      case "sysctl.txt" -> "sysctl -a";
      default -> "cat " + file;
    };
  }

  /**
   * Control characters (but tab and line ends) and bytes that are not UTF-8 (already U+FFFD)
   * replaced by U+FFFD, each line that had one named in {@code warnings}: no text read from a file
   * or a paste reaches a terminal raw. A leading byte-order mark is dropped.
   */
  public static String sanitise(String name, String text, List<String> warnings) {
    StringBuilder b = new StringBuilder(text.length());
    int line = 1;
    int warnedLine = 0;
    if (text.startsWith("\uFEFF")) {
      text = text.substring(1);
    }
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      boolean bad = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f || c == '\uFFFD';
      if (bad && warnedLine != line) {
        warnedLine = line;
        warnings.add(
            name
                + ":"
                + line
                + ": control characters or bytes that are not UTF-8, replaced by \uFFFD");
      }
      b.append(bad ? '\uFFFD' : c);
      if (c == '\n') {
        line++;
      }
    }
    return b.toString();
  }

  /** Decodes UTF-8 leniently: malformed bytes become U+FFFD and a warning names the line. */
  private String decode(String file, byte[] bytes) {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      String text = new String(bytes, StandardCharsets.UTF_8);
      int line = 1;
      int bad = text.indexOf('\uFFFD');
      for (int i = 0; i < bad; i++) {
        if (text.charAt(i) == '\n') {
          line++;
        }
      }
      warn(file, line, "not valid UTF-8: malformed bytes replaced by U+FFFD");
      return text;
    }
  }

  /** Bundle files and the commands that make them; anything else in the folder is noted. */
  private static final List<String> READ =
      List.of(
          "iptables-save.txt",
          "iptables-legacy-save.txt",
          "ipset-save.txt",
          "conntrack.txt",
          "ip-addr.json",
          "ip-addr.txt",
          "ip-route.json",
          "ip-route.txt",
          "ip-rule.json",
          "ip-rule.txt",
          "sysctl.txt",
          "ipvsadm-save.txt",
          "ipvsadm-conns.txt",
          "ipvsadm-conn.txt",
          "nft-ruleset.json",
          "nft-ruleset.txt");

  /** Files a bundle may hold that the tracer does not use (yet); they are not reported. */
  private static final List<String> KNOWN_UNUSED =
      List.of(
          "ip6tables-save.txt",
          "bridge-link.json",
          // conntrack -S: read by the doctor's conntrack-table-full check
          "conntrack-stats.txt",
          "node.yaml",
          "cluster.json",
          // pasted kubectl tables (doctor --paste): the doctor reads the nodes pods run on
          "kubectl-get.txt",
          // the proxy processes a capture found (ProxyProcessFacts); the doctor reads it
          ProxyProcessFacts.FILE,
          // flannel's subnet.env: the doctor reads its network as a pod range
          BundleCapture.FLANNEL_SUBNET_ENV);

  /** Whether {@code name} (relative to the bundle) is a file of design.md §4's bundle. */
  public static boolean isBundleFile(String name) {
    return READ.contains(name) || KNOWN_UNUSED.contains(name) || name.startsWith("xt_recent/");
  }

  /** Line number to the command run at a shell prompt on that line, per file. */
  private final Map<String, Map<Integer, String>> prompts = new HashMap<>();

  /** The text with shell prompt lines blanked (line numbers kept); their commands remembered. */
  private String clean(String file, String text) {
    String t = text.replace("\r\n", "\n").replace('\r', '\n');
    if (t.startsWith("\uFEFF")) {
      t = t.substring(1);
    }
    String[] lines = t.split("\n", -1);
    Map<Integer, String> cmds = new HashMap<>();
    for (int i = 0; i < lines.length; i++) {
      String cmd = Prompts.command(lines[i]);
      if (cmd != null) {
        cmds.put(i + 1, cmd);
        lines[i] = "";
      }
    }
    prompts.put(file, cmds);
    return String.join("\n", lines);
  }

  private NodeState build(Map<String, String> raw) {
    Map<String, String> files = new LinkedHashMap<>();
    raw.forEach((name, text) -> files.put(name, clean(name, text)));
    for (String name : files.keySet()) {
      if (!isBundleFile(name)) {
        notes.add("not a bundle file, not read: " + name);
      }
    }
    String addrFile = pick(files, "ip-addr.json", "ip-addr.txt");
    List<NodeState.Interface> ifaces =
        addrFile != null ? addresses(addrFile, files.get(addrFile)) : List.of();
    if (ifaces.isEmpty()) {
      notes.add("no ip-addr.json: the node's addresses are unknown");
    }
    String routeFile = pick(files, "ip-route.json", "ip-route.txt");
    List<NodeState.Route> routes =
        routeFile != null ? routes(routeFile, files.get(routeFile)) : List.of();
    if (routes.isEmpty()) {
      notes.add("no ip-route.json: routes unknown; local addresses come from ip-addr.json");
    } else if (routes.stream().noneMatch(r -> r.table().equals("local"))) {
      routes = withLocalRoutes(routeFile, routes, ifaces);
    }
    String ruleFile = pick(files, "ip-rule.json", "ip-rule.txt");
    List<NodeState.RoutingRule> rules =
        ruleFile != null ? rules(ruleFile, files.get(ruleFile)) : List.of();
    if (rules.isEmpty()) {
      notes.add("no ip-rule.json: assumed the default rules (local, main, default)");
      rules = List.of(rule(0, "local"), rule(32766, "main"), rule(32767, "default"));
    }
    Map<String, String> sysctls =
        files.containsKey("sysctl.txt") ? sysctls("sysctl.txt", files.get("sysctl.txt")) : Map.of();
    if (sysctls.isEmpty()) {
      notes.add("no sysctl.txt: assumed ip_forward=1, rp_filter=0, route_localnet=0");
    }
    Map<String, NodeState.IpSet> ipsets =
        files.containsKey("ipset-save.txt")
            ? ipsets("ipset-save.txt", files.get("ipset-save.txt"))
            : Map.of();
    List<Ruleset> iptables = new ArrayList<>();
    for (String f : List.of("iptables-save.txt", "iptables-legacy-save.txt")) {
      if (files.containsKey(f)) {
        IptablesText.Result r =
            IptablesText.read(
                fromDisk ? uncut(f, files.get(f)) : files.get(f),
                f,
                prompts.getOrDefault(f, Map.of()),
                files.containsKey("ipset-save.txt") ? ipsets.keySet() : null);
        warnings.addAll(r.warnings());
        iptables.add(r.ruleset());
      }
    }
    if (iptables.isEmpty()) {
      notes.add("no iptables-save.txt: no iptables rules (every chain accepts)");
    }
    List<NodeState.ConntrackEntry> ct =
        files.containsKey("conntrack.txt")
            ? conntrack("conntrack.txt", files.get("conntrack.txt"))
            : List.of();
    if (!files.containsKey("conntrack.txt")) {
      notes.add("no conntrack.txt: every packet starts a new connection");
    }
    Map<String, List<String>> recent = new HashMap<>();
    files.forEach(
        (name, text) -> {
          if (name.startsWith("xt_recent/")) {
            recent.put(name.substring("xt_recent/".length()), recent(name, text));
          }
        });
    IpvsTable ipvs = IpvsTable.empty();
    if (files.containsKey("ipvsadm-save.txt")) {
      ipvs = ipvs("ipvsadm-save.txt", files.get("ipvsadm-save.txt"));
    } else {
      notes.add(
          "no ipvsadm-save.txt: no IPVS virtual servers (the node has no IPVS, or it was not"
              + " captured)");
    }
    List<IpvsConnection> conns = List.of();
    // design.md names it ipvsadm-conns.txt; the singular is taken too, as people name it.
    String connFile = pick(files, "ipvsadm-conns.txt", "ipvsadm-conn.txt");
    if (connFile != null) {
      IpvsConnectionCodec.Result r = IpvsConnectionCodec.parse(files.get(connFile), connFile);
      r.warnings().forEach(w -> warn(w.source(), w.line(), w.reason()));
      conns = r.connections();
    } else if (!ipvs.services().isEmpty()) {
      notes.add(
          "no ipvsadm-conns.txt: no IPVS connection entries or persistence templates; every"
              + " packet to a virtual server is scheduled anew");
    }
    dev.svcproxy.nftables.ruleset.Ruleset nft = dev.svcproxy.nftables.ruleset.Ruleset.empty();
    if (files.containsKey("nft-ruleset.json")) {
      nft = nftables("nft-ruleset.json", files.get("nft-ruleset.json"));
    } else if (files.containsKey("nft-ruleset.txt")) {
      nft = nftablesText("nft-ruleset.txt", files.get("nft-ruleset.txt"));
    } else {
      notes.add("no nft-ruleset.json: no nftables rules beyond what iptables-save.txt shows");
    }
    return new NodeState(
        ifaces, routes, rules, sysctls, iptables, ipsets, ct, recent, warnings, notes, ipvs, conns,
        nft);
  }

  /**
   * An iptables-save file of a bundle directory with its cut end dealt with: a table section
   * without COMMIT at the end of the file was cut (iptables-save ends every table with COMMIT),
   * which is noted, since what follows the cut is unknown; and when the file ends mid-line inside
   * it, that partial line is warned about and not read (a rule cut short may match more, or other,
   * packets than the real one). Line numbers are kept.
   */
  private String uncut(String file, String text) {
    String[] lines = text.split("\n", -1);
    String open = null;
    int last = 0;
    for (int i = 0; i < lines.length; i++) {
      String t = lines[i].strip();
      if (t.isEmpty()) {
        continue;
      }
      last = i;
      if (t.startsWith("*") && t.length() > 1 && !t.contains(" ")) {
        open = t.substring(1);
      } else if (t.equals("COMMIT")) {
        open = null;
      }
    }
    if (open == null) {
      return text;
    }
    notes.add(
        file
            + ": table "
            + open
            + " has no COMMIT, the file was cut at line "
            + (last + 1)
            + ": its rules and chains after that are unknown, and nothing is concluded from"
            + " their absence");
    if (!unterminated.contains(file) || lines[last].strip().equals("COMMIT")) {
      return text;
    }
    warn(
        file,
        last + 1,
        "the file ends in the middle of this line (cut short), not read: " + lines[last].strip());
    lines[last] = "";
    return String.join("\n", lines);
  }

  /**
   * `nft -j list ruleset`: a file that is not a ruleset is a warning (naming the JSON path at
   * fault), and the node is traced without nftables.
   */
  private dev.svcproxy.nftables.ruleset.Ruleset nftables(String file, String text) {
    try {
      return dev.svcproxy.nftables.ruleset.NftJsonReader.read(text, file);
    } catch (IllegalArgumentException e) {
      warnings.add(e.getMessage() + " (nftables rules not read)");
      return dev.svcproxy.nftables.ruleset.Ruleset.empty();
    }
  }

  /**
   * `nft list ruleset` text as people paste it (or a file of nft commands): read through the same
   * JSON reader as a capture, after the text converter; text it cannot read is a warning naming the
   * line and column, and the node is traced without nftables.
   */
  private dev.svcproxy.nftables.ruleset.Ruleset nftablesText(String file, String text) {
    try {
      return dev.svcproxy.nftables.ruleset.NftJsonReader.read(
          dev.svcproxy.nftables.text.NftTextConverter.toJson(file, text), file);
    } catch (IllegalArgumentException e) {
      warnings.add(e.getMessage() + " (nftables rules not read)");
      return dev.svcproxy.nftables.ruleset.Ruleset.empty();
    }
  }

  /**
   * The IPVS service table: `ipvsadm -S -n` rules, or a pasted `ipvsadm -Ln` listing (any of its
   * variants; --stats and --rate lack schedulers and weights, which is noted).
   */
  private IpvsTable ipvs(String file, String text) {
    if (IpvsadmListing.isListing(text)) {
      IpvsadmListing.Result r = IpvsadmListing.parse(text, file);
      r.warnings().forEach(w -> warn(w.source(), w.line(), w.reason()));
      if (!r.complete()) {
        notes.add(
            file
                + " is an ipvsadm -Ln --"
                + (r.format() == IpvsadmListing.Format.STATS ? "stats" : "rate")
                + " listing, which has no schedulers, weights or forwarding methods: assumed rr,"
                + " weight 1 and masquerading, as kube-proxy sets them");
      }
      return r.table();
    }
    IpvsadmCodec.Result r = IpvsadmCodec.parseSave(text, file);
    r.warnings().forEach(w -> warn(w.source(), w.line(), w.reason()));
    return r.table();
  }

  /** The first of {@code names} the bundle has; a second one present is noted as unused. */
  private String pick(Map<String, String> files, String json, String txt) {
    if (files.containsKey(json)) {
      if (files.containsKey(txt)) {
        notes.add(txt + " not read: " + json + " is used");
      }
      return json;
    }
    return files.containsKey(txt) ? txt : null;
  }

  private static NodeState.RoutingRule rule(int prio, String table) {
    return new NodeState.RoutingRule(prio, "", "", "", "", null, null, false, table, "");
  }

  private void warn(String file, int line, String what) {
    warnings.add(file + ":" + line + ": " + what);
  }

  private JsonNode json(String file, String text) {
    int start = text.indexOf('[');
    int offsetLines = 0;
    for (int i = 0; i < Math.max(start, 0); i++) {
      if (text.charAt(i) == '\n') {
        offsetLines++;
      }
    }
    try {
      JsonNode root = JSON.readTree(start < 0 ? text : text.substring(start));
      if (root == null || !root.isArray()) {
        warn(file, offsetLines + 1, "not a JSON array, skipped");
        return null;
      }
      return root;
    } catch (JsonProcessingException e) {
      int line = e.getLocation() == null ? 1 : e.getLocation().getLineNr() + offsetLines;
      warn(file, line, "not valid JSON, file skipped: " + e.getOriginalMessage());
      return null;
    }
  }

  List<NodeState.Interface> addresses(String file, String text) {
    if (!text.strip().startsWith("[")) {
      return plainAddresses(file, text);
    }
    List<NodeState.Interface> out = new ArrayList<>();
    JsonNode root = json(file, text);
    if (root == null) {
      return out;
    }
    for (JsonNode link : root) {
      List<NodeState.Address> addrs = new ArrayList<>();
      for (JsonNode a : link.path("addr_info")) {
        if (!a.path("family").asText().equals("inet")) {
          continue;
        }
        int len = a.path("prefixlen").asInt(32);
        if (!Ip.isIpv4(a.path("local").asText()) || len < 0 || len > 32) {
          warn(
              file,
              1,
              "interface "
                  + link.path("ifname").asText()
                  + ": not an IPv4 address: "
                  + a.path("local").asText()
                  + "/"
                  + a.path("prefixlen").asText()
                  + ", skipped");
          continue;
        }
        addrs.add(
            new NodeState.Address(
                a.path("local").asText(),
                a.path("prefixlen").asInt(32),
                a.path("scope").asText("global"),
                a.path("secondary").asBoolean(false)));
      }
      boolean up = false;
      for (JsonNode f : link.path("flags")) {
        up |= f.asText().equals("UP");
      }
      out.add(
          new NodeState.Interface(
              link.path("ifname").asText(), addrs, link.path("master").asText(""), up));
    }
    return out;
  }

  private static final Pattern LINK =
      Pattern.compile("^\\d+:\\s+([^:@\\s]+)(?:@\\S+)?:\\s+<([^>]*)>(.*)$");
  private static final Pattern INET =
      Pattern.compile("^\\s+inet\\s+(\\d+\\.\\d+\\.\\d+\\.\\d+)/(\\d{1,3})(.*)$");

  private List<NodeState.Interface> plainAddresses(String file, String text) {
    List<NodeState.Interface> out = new ArrayList<>();
    String name = null;
    String master = "";
    boolean up = false;
    List<NodeState.Address> addrs = new ArrayList<>();
    int n = 0;
    for (String line : text.split("\n")) {
      n++;
      Matcher l = LINK.matcher(line);
      Matcher a = INET.matcher(line);
      if (l.matches()) {
        if (name != null) {
          out.add(new NodeState.Interface(name, addrs, master, up));
        }
        name = l.group(1);
        up = List.of(l.group(2).split(",")).contains("UP");
        Matcher m = Pattern.compile("master (\\S+)").matcher(l.group(3));
        master = m.find() ? m.group(1) : "";
        addrs = new ArrayList<>();
      } else if (a.matches()
          && name != null
          && (!Ip.isIpv4(a.group(1)) || Integer.parseInt(a.group(2)) > 32)) {
        warn(file, n, "not an IPv4 address, skipped: " + line.strip());
      } else if (a.matches() && name != null) {
        String rest = a.group(3);
        Matcher sc = Pattern.compile("scope (\\S+)").matcher(rest);
        addrs.add(
            new NodeState.Address(
                a.group(1),
                Integer.parseInt(a.group(2)),
                sc.find() ? sc.group(1) : "global",
                rest.contains(" secondary")));
      } else if (!line.isBlank() && !line.startsWith("    ") && !line.startsWith("\t")) {
        warn(file, n, "not understood: " + line.strip());
      }
    }
    if (name != null) {
      out.add(new NodeState.Interface(name, addrs, master, up));
    }
    return out;
  }

  List<NodeState.Route> routes(String file, String text) {
    if (!text.strip().startsWith("[")) {
      return plainRoutes(file, text);
    }
    List<NodeState.Route> out = new ArrayList<>();
    JsonNode root = json(file, text);
    if (root == null) {
      return out;
    }
    for (JsonNode r : root) {
      String rawDst = r.path("dst").asText("default");
      String dst = prefix(rawDst);
      if (dst == null) {
        if (!rawDst.contains(":")) {
          warn(file, 1, "route to \"" + rawDst + "\": not an IPv4 destination, skipped");
        }
        continue; // IPv6 routes are outside an IPv4 trace.
      }
      out.add(
          new NodeState.Route(
              r.path("table").asText("main"),
              r.path("type").asText("unicast"),
              dst,
              r.path("gateway").asText(""),
              r.path("dev").asText(""),
              r.path("prefsrc").asText(""),
              r.path("metric").asInt(0),
              r.path("scope").asText("global")));
    }
    return out;
  }

  /**
   * Routes without the local table (`ip route` prints main only) plus the local routes the kernel
   * adds with every address (fib_add_ifaddr: {@code local ADDR dev IF}, whatever the link's state,
   * so the VIPs of a down kube-ipvs0 are local too) and {@code local 127.0.0.0/8 dev lo}. Without
   * them a packet to the node's own address would be routed on, and {@code addrtype --dst-type
   * LOCAL} would never match.
   */
  private List<NodeState.Route> withLocalRoutes(
      String file, List<NodeState.Route> routes, List<NodeState.Interface> ifaces) {
    List<NodeState.Route> out = new ArrayList<>(routes);
    List<String> added = new ArrayList<>();
    out.add(new NodeState.Route("local", "local", "127.0.0.0/8", "", "lo", "127.0.0.1", 0, "host"));
    added.add("127.0.0.0/8 dev lo");
    for (NodeState.Interface i : ifaces) {
      for (NodeState.Address a : i.addresses()) {
        if (a.ip().startsWith("127.") && i.name().equals("lo")) {
          continue; // inside 127.0.0.0/8 already
        }
        out.add(
            new NodeState.Route("local", "local", a.ip() + "/32", "", i.name(), a.ip(), 0, "host"));
        added.add(a.ip() + " dev " + i.name());
      }
    }
    notes.add(
        file
            + " has no local-table routes (`ip route` shows the main table only): assumed the"
            + " local routes the kernel adds for the node's addresses: local "
            + String.join(", local ", added));
    return out;
  }

  private static final List<String> ROUTE_TYPES =
      List.of(
          "unicast",
          "local",
          "broadcast",
          "multicast",
          "blackhole",
          "unreachable",
          "prohibit",
          "throw",
          "anycast");

  private List<NodeState.Route> plainRoutes(String file, String text) {
    List<NodeState.Route> out = new ArrayList<>();
    int n = 0;
    for (String raw : text.split("\n")) {
      n++;
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split("\\s+");
      int i = 0;
      String type = "unicast";
      if (ROUTE_TYPES.contains(f[0])) {
        type = f[0];
        i = 1;
      }
      if (i >= f.length) {
        warn(file, n, "not understood: " + line);
        continue;
      }
      String dst = prefix(f[i]);
      if (dst == null) {
        if (!f[i].contains(":")) {
          warn(file, n, "not understood: " + line);
        }
        continue;
      }
      Map<String, String> kv = new HashMap<>();
      for (int k = i + 1; k + 1 < f.length; k++) {
        if (List.of("via", "dev", "table", "src", "metric", "scope", "proto").contains(f[k])) {
          kv.put(f[k], f[k + 1]);
          k++;
        }
      }
      String metric = kv.getOrDefault("metric", "0");
      if (!RuleValues.number(metric, 0, Integer.MAX_VALUE)) {
        warn(file, n, "not a metric: " + metric + ", route skipped: " + line);
        continue;
      }
      if (kv.containsKey("via") && !Ip.isIp(kv.get("via"))) {
        warn(file, n, "not a gateway address: " + kv.get("via") + ", route skipped: " + line);
        continue;
      }
      out.add(
          new NodeState.Route(
              kv.getOrDefault("table", "main"),
              type,
              dst,
              kv.getOrDefault("via", ""),
              kv.getOrDefault("dev", ""),
              kv.getOrDefault("src", ""),
              Integer.parseInt(metric),
              kv.getOrDefault("scope", "global")));
    }
    return out;
  }

  /** "default" → 0.0.0.0/0, "10.0.0.1" → /32; null for non-IPv4. */
  private static String prefix(String s) {
    if (s.equals("default") || s.equals("0.0.0.0/0")) {
      return "0.0.0.0/0";
    }
    try {
      Cidr c = Cidr.parse(s);
      return c.ipv6() ? null : c.masked().toString();
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  private static final Pattern RULE_LINE = Pattern.compile("^(\\d+):\\s+(.*)$");

  /** `ip rule` as people paste it: "32766:\tfrom all lookup main". */
  private List<NodeState.RoutingRule> plainRules(String file, String text) {
    List<NodeState.RoutingRule> out = new ArrayList<>();
    int n = 0;
    for (String raw : text.split("\n")) {
      n++;
      String line = raw.strip();
      if (line.isEmpty()) {
        continue;
      }
      Matcher m = RULE_LINE.matcher(line);
      if (!m.matches() || !RuleValues.number(m.group(1), 0, Integer.MAX_VALUE)) {
        warn(file, n, "not an ip rule, skipped: " + line);
        continue;
      }
      String[] f = m.group(2).split("\\s+");
      String from = "";
      String to = "";
      String iif = "";
      String oif = "";
      String table = "";
      String action = "";
      Long mark = null;
      Long mask = null;
      boolean not = false;
      String bad = null;
      for (int i = 0; i < f.length && bad == null; i++) {
        String k = f[i];
        String v = i + 1 < f.length ? f[i + 1] : null;
        switch (k) {
          case "not" -> not = true;
          case "from", "to", "iif", "oif", "lookup", "table", "fwmark" -> {
            if (v == null) {
              bad = k + " without a value";
              break;
            }
            i++;
            switch (k) {
              case "from" -> from = v.equals("all") ? "" : v;
              case "to" -> to = v.equals("all") ? "" : v;
              case "iif" -> iif = v;
              case "oif" -> oif = v;
              case "fwmark" -> {
                String[] mv = v.split("/");
                try {
                  mark = parseNum(mv[0]);
                  mask = mv.length > 1 ? parseNum(mv[1]) : null;
                } catch (NumberFormatException e) {
                  bad = "not a mark: " + v;
                }
              }
              default -> table = v;
            }
          }
          case "blackhole", "unreachable", "prohibit" -> action = k;
          default -> {
            // Other selectors (pref, proto, uidrange, [detached]...) do not change the lookup of
            // a traced packet.
          }
        }
      }
      for (String prefix : new String[] {from, to}) {
        if (bad == null && !prefix.isEmpty() && prefix(prefix) == null) {
          bad = "not an IPv4 prefix: " + prefix;
        }
      }
      if (bad != null) {
        warn(file, n, bad + ", rule skipped: " + line);
        continue;
      }
      out.add(
          new NodeState.RoutingRule(
              Integer.parseInt(m.group(1)), from, to, iif, oif, mark, mask, not, table, action));
    }
    return out;
  }

  List<NodeState.RoutingRule> rules(String file, String text) {
    if (!text.strip().startsWith("[")) {
      return plainRules(file, text);
    }
    List<NodeState.RoutingRule> out = new ArrayList<>();
    JsonNode root = json(file, text);
    if (root == null) {
      return out;
    }
    for (JsonNode r : root) {
      String from = r.path("src").asText("all");
      if (!from.equals("all") && r.has("srclen")) {
        from = from + "/" + r.path("srclen").asInt();
      }
      String to = r.path("dst").asText("all");
      if (!to.equals("all") && r.has("dstlen")) {
        to = to + "/" + r.path("dstlen").asInt();
      }
      Long mark;
      Long mask;
      try {
        mark = r.has("fwmark") ? parseNum(r.path("fwmark").asText()) : null;
        mask = r.has("fwmask") ? parseNum(r.path("fwmask").asText()) : null;
      } catch (NumberFormatException e) {
        warn(
            file,
            1,
            "rule "
                + r.path("priority").asText()
                + ": not a mark: "
                + r.path("fwmark").asText()
                + "/"
                + r.path("fwmask").asText()
                + ", skipped");
        continue;
      }
      out.add(
          new NodeState.RoutingRule(
              r.path("priority").asInt(),
              from.equals("all") ? "" : from,
              to.equals("all") ? "" : to,
              r.path("iif").asText(""),
              r.path("oif").asText(""),
              mark,
              mask,
              r.path("not").asBoolean(false),
              r.path("table").asText(""),
              r.path("action").asText("")));
    }
    return out;
  }

  private static long parseNum(String s) {
    return s.startsWith("0x") ? Long.parseLong(s.substring(2), 16) : Long.parseLong(s);
  }

  Map<String, String> sysctls(String file, String text) {
    Map<String, String> out = new HashMap<>();
    int n = 0;
    for (String line : text.split("\n")) {
      n++;
      String t = line.strip();
      if (t.isEmpty() || t.startsWith("#")) {
        continue;
      }
      int eq = t.indexOf('=');
      if (eq < 0) {
        warn(file, n, "not a key = value line: " + t);
        continue;
      }
      String key = t.substring(0, eq).strip().replace('/', '.');
      String value = t.substring(eq + 1).strip();
      String allowed = allowedValues(key);
      if (allowed != null && !value.matches(allowed)) {
        warn(
            file,
            n,
            key
                + " = "
                + value
                + ": not a valid value ("
                + allowed.replace("|", ", ")
                + "); ignored, the default is assumed");
        continue;
      }
      out.put(key, value);
    }
    return out;
  }

  /** The values the tracer reads for a sysctl it uses, as a regex; null for other keys. */
  private static String allowedValues(String key) {
    String leaf = key.substring(key.lastIndexOf('.') + 1);
    return switch (leaf) {
      case "rp_filter" -> "0|1|2";
      case "ip_forward",
          "route_localnet",
          "bridge-nf-call-iptables",
          "bridge-nf-call-ip6tables",
          "tcp_be_liberal",
          "conntrack" ->
          "0|1";
      default -> null;
    };
  }

  Map<String, NodeState.IpSet> ipsets(String file, String text) {
    IpsetCodec.Result r = IpsetCodec.parse(text, file);
    r.warnings().forEach(w -> warn(file, w.line(), w.reason()));
    Map<String, NodeState.IpSet> out = new LinkedHashMap<>();
    Map<String, java.util.ArrayDeque<Integer>> lines = memberLines(text);
    for (IpsetCodec.IpSet s : r.sets()) {
      for (IpsetCodec.Entry e : s.entries()) {
        try {
          IpsetCodec.typedParts(s.type(), e.element());
        } catch (IllegalArgumentException ex) {
          Integer at =
              lines.getOrDefault(s.name() + " " + e.element(), new java.util.ArrayDeque<>()).poll();
          warn(
              file,
              at == null ? 0 : at,
              "set " + s.name() + ": " + ex.getMessage() + "; the tracer skips it");
        }
      }
      out.put(s.name(), new NodeState.IpSet(s.name(), s.type(), s.entries()));
    }
    return out;
  }

  /**
   * The line of each set member, by "SET ELEMENT", in the order the lines come: `ipset save`'s "add
   * SET ELEMENT ..." and the member lines under "Members:" of `ipset list`'s "Name: SET".
   */
  private static Map<String, java.util.ArrayDeque<Integer>> memberLines(String text) {
    Map<String, java.util.ArrayDeque<Integer>> out = new HashMap<>();
    String listing = null;
    boolean members = false;
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String t = lines[i].strip();
      String[] w = t.split("\\s+");
      String key = null;
      if (t.startsWith("Name: ")) {
        listing = t.substring(6).strip();
        members = false;
      } else if (listing != null && t.equals("Members:")) {
        members = true;
      } else if (listing != null && members) {
        if (t.isEmpty()) {
          listing = null;
        } else {
          key = listing + " " + w[0];
        }
      } else if (w.length >= 3 && (w[0].equals("add") || w[0].equals("-A"))) {
        key = w[1] + " " + w[2];
      }
      if (key != null) {
        out.computeIfAbsent(key, k -> new java.util.ArrayDeque<>()).add(i + 1);
      }
    }
    return out;
  }

  List<NodeState.ConntrackEntry> conntrack(String file, String text) {
    List<NodeState.ConntrackEntry> out = new ArrayList<>();
    int n = 0;
    for (String line : text.split("\n")) {
      n++;
      String t = line.strip();
      if (ConntrackCodec.isSummary(t)) {
        continue;
      }
      ConntrackCodec.Entry e;
      try {
        e = ConntrackCodec.parseLine(t);
      } catch (IllegalArgumentException ex) {
        warn(file, n, ex.getMessage() + ", entry skipped: " + t);
        continue;
      }
      if ("ipv6".equals(e.family())) {
        continue;
      }
      String notV4 = notIpv4(e.original(), e.reply());
      if (notV4 != null) {
        warn(file, n, notV4 + " is not an IPv4 address, entry skipped: " + t);
        continue;
      }
      out.add(
          new NodeState.ConntrackEntry(
              e.protocol(),
              e.state() == null ? "" : e.state(),
              tuple(e.original()),
              tuple(e.reply()),
              !e.unreplied(),
              e.mark()));
    }
    return out;
  }

  private static String notIpv4(ConntrackCodec.Tuple... tuples) {
    for (ConntrackCodec.Tuple t : tuples) {
      if (!Ip.isIpv4(t.src())) {
        return "src=" + t.src();
      }
      if (!Ip.isIpv4(t.dst())) {
        return "dst=" + t.dst();
      }
    }
    return null;
  }

  private static NodeState.Tuple tuple(ConntrackCodec.Tuple t) {
    return new NodeState.Tuple(
        t.src(), t.dst(), t.sport() == null ? 0 : t.sport(), t.dport() == null ? 0 : t.dport());
  }

  List<String> recent(String file, String text) {
    List<String> out = new ArrayList<>();
    int n = 0;
    for (String line : text.split("\n")) {
      n++;
      Matcher m = Pattern.compile("^src=(\\S+)").matcher(line.strip());
      if (m.find() && Ip.isIp(m.group(1))) {
        out.add(m.group(1));
      } else if (!line.isBlank()) {
        warn(file, n, "not an xt_recent entry: " + line.strip());
      }
    }
    return out;
  }
}
