package dev.svcproxy.doctor;

import dev.svcproxy.trace.bundle.Prompts;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Command output pasted by a person (an issue, a chat, a file under any name): split into blocks at
 * shell prompts ({@code $ iptables -t nat -L -n -v}) and blank lines, each block recognised by its
 * command or, without one, by its content, and mapped to the bundle file it stands for. Every line
 * keeps its origin ({@code issue.txt:42}) so warnings and evidence cite the pasted text.
 */
public final class PastedInput {
  /** A pasted text and the name it is cited by. */
  public record Source(String name, String text) {}

  /** What a block of output is, and the bundle file it maps to (null: cluster objects). */
  public enum Kind {
    IPTABLES("iptables-save.txt", "iptables-save / iptables -S / iptables -L -n -v"),
    IPTABLES_LEGACY("iptables-legacy-save.txt", "iptables-legacy"),
    IPVS("ipvsadm-save.txt", "ipvsadm -Ln / ipvsadm -Sn"),
    IPVS_CONNS("ipvsadm-conns.txt", "ipvsadm -Lnc"),
    CONNTRACK("conntrack.txt", "conntrack -L"),
    ROUTE("ip-route.txt", "ip route"),
    ADDR("ip-addr.txt", "ip addr"),
    RULE("ip-rule.txt", "ip rule"),
    SYSCTL("sysctl.txt", "sysctl"),
    IPSET("ipset-save.txt", "ipset save"),
    NFT("nft-ruleset.txt", "nft list ruleset"),
    KUBE_OBJECTS(null, "kubectl get -o yaml / -o json"),
    KUBE_TABLE(null, "kubectl get svc,ep,endpointslices,pods,nodes -o wide");

    private final String file;
    private final String form;

    Kind(String file, String form) {
      this.file = file;
      this.form = form;
    }

    /** The bundle file this output stands for; null for the cluster's objects. */
    public String file() {
      return file;
    }

    /** How the output is made, for the notes. */
    public String form() {
      return form;
    }
  }

  /** One recognised block: its kind, where it came from, its lines and their line numbers. */
  public record Block(Kind kind, String source, List<String> lines, List<Integer> numbers) {
    public Block {
      lines = List.copyOf(lines);
      numbers = List.copyOf(numbers);
    }
  }

  /**
   * The blocks recognised in {@code sources}, and notes on the lines not recognised
   * ("issue.txt:3-9: not recognised as command output, not read").
   */
  public record Split(List<Block> blocks, List<String> unrecognised) {
    public Split {
      blocks = List.copyOf(blocks);
      unrecognised = List.copyOf(unrecognised);
    }
  }

  private PastedInput() {}

  /** Splits every source into recognised blocks. */
  public static Split split(List<Source> sources) {
    List<Block> blocks = new ArrayList<>();
    List<String> unrecognised = new ArrayList<>();
    for (Source s : sources) {
      splitOne(s, blocks, unrecognised);
      mixedHosts(s, unrecognised);
    }
    return new Split(blocks, unrecognised);
  }

  /** The host a prompt names: "[root@k8s-1 ~]#", "user@node1:~$", "node1 ~ #". */
  private static final Pattern PROMPT_HOST =
      Pattern.compile(
          "^(?:\\[[^\\]\\s@]+@([^\\]\\s]+)[\\s\\]]"
              + "|[\\w.-]+@([\\w.-]+)[:\\s#$%]"
              + "|([\\w.-]+)\\s[~/]\\S*\\s[#$]\\s).*");

  /**
   * Warns when the prompts of one paste name different hosts: the doctor reads a paste as one
   * node's state, and rules or routes of two nodes read together describe neither.
   */
  private static void mixedHosts(Source s, List<String> warnings) {
    String[] lines = s.text().replace("\r\n", "\n").replace('\r', '\n').split("\n", -1);
    Map<String, List<Integer>> hosts = new LinkedHashMap<>();
    for (int i = 0; i < lines.length; i++) {
      if (Prompts.command(lines[i]) == null) {
        continue;
      }
      Matcher m = PROMPT_HOST.matcher(lines[i].strip());
      if (m.matches()) {
        String h = m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group(3);
        hosts.computeIfAbsent(h, k -> new ArrayList<>()).add(i + 1);
      }
    }
    if (hosts.size() < 2) {
      return;
    }
    List<String> named = new ArrayList<>();
    hosts.forEach(
        (h, at) ->
            named.add(
                h
                    + " (line"
                    + (at.size() > 1 ? "s " : " ")
                    + String.join(", ", at.stream().map(String::valueOf).toList())
                    + ")"));
    warnings.add(
        s.name()
            + ":"
            + hosts.values().iterator().next().get(0)
            + ": the input mixes hosts: prompts of "
            + String.join(", ", named)
            + "; their output is read together as one node's, which it is not: paste one node's"
            + " output at a time");
  }

  /** Code fences and HTML details tags of issue text: never output, dropped as blank lines. */
  private static final Pattern DECORATION =
      Pattern.compile("^\\s*(```.*|~~~.*|</?details>|</?summary>.*|<pre>|</pre>)\\s*$");

  private static void splitOne(Source s, List<Block> blocks, List<String> unrecognised) {
    String[] lines = s.text().replace("\r\n", "\n").replace('\r', '\n').split("\n", -1);
    blankGutters(lines);
    // A segment runs from a prompt line (or the start) to the next prompt line.
    int start = 0;
    Kind command = null;
    boolean prompted = false;
    for (int i = 0; i <= lines.length; i++) {
      String cmd = i < lines.length ? Prompts.command(lines[i]) : null;
      if (i == lines.length || cmd != null) {
        segment(s.name(), lines, start, i, prompted, command, blocks, unrecognised);
        if (i < lines.length) {
          start = i;
          prompted = true;
          command = ofCommand(cmd);
        }
      }
    }
  }

  /**
   * Lines [from, to) of one segment: a prompt line first when {@code prompted}. Paragraphs
   * (separated by blank lines) are recognised by content; one that is not continues the kind before
   * it under a prompt or in YAML (a listing's next chain, a YAML document's next part). Under a
   * prompt, a later paragraph recognised as another kind than the command prints ends the command's
   * output: what follows was pasted without its prompt.
   */
  private static void segment(
      String source,
      String[] lines,
      int from,
      int to,
      boolean prompted,
      Kind command,
      List<Block> blocks,
      List<String> unrecognised) {
    boolean kubectl = command == Kind.KUBE_OBJECTS;
    boolean underPrompt = prompted;
    boolean firstParagraph = true;
    Kind current = kubectl ? null : command;
    List<String> buf = new ArrayList<>();
    List<Integer> nums = new ArrayList<>();
    if (prompted) {
      buf.add(lines[from]);
      nums.add(from + 1);
    }
    int i = prompted ? from + 1 : from;
    if (prompted) {
      int end = i;
      while (end < to && !blank(lines[end])) {
        end++;
      }
      if (end > i && failed(lines, i, end)) {
        // The command failed: what it printed is its error, not its output. What follows it (after
        // a
        // blank line) was pasted without a prompt and says by its content what it is.
        unrecognised.add(
            source
                + ":"
                + (from + 1)
                + "-"
                + end
                + ": the command failed ("
                + shorten(lines[i].strip())
                + "): its output is an error message, not read");
        buf.clear();
        nums.clear();
        underPrompt = false;
        kubectl = false;
        command = null;
        current = null;
        i = end;
      }
    }
    while (i < to) {
      if (blank(lines[i])) {
        if (!buf.isEmpty()) {
          buf.add("");
          nums.add(i + 1);
        }
        i++;
        continue;
      }
      int end = i;
      while (end < to && !blank(lines[end])) {
        end++;
      }
      Kind k = sniff(lines, i, end);
      boolean otherKind =
          k != null
              && (kubectl
                  ? k != Kind.KUBE_OBJECTS && k != Kind.KUBE_TABLE
                  : command != null && k != command && !compatible(command, k));
      if (otherKind && !firstParagraph) {
        // After a blank line, output recognised as another command's (pasted without its prompt)
        // ends the prompted command's output: it is a block of its own. Paragraphs of the same
        // kind (the next chain of `iptables -L`) stay with the command.
        underPrompt = false;
        kubectl = false;
        command = null;
      } else if (otherKind) {
        k = null; // the command says what it printed; content that looks otherwise is its output.
      }
      firstParagraph = false;
      if (k == null && (underPrompt || current == Kind.KUBE_OBJECTS)) {
        // Under a prompt the output runs to the next prompt; YAML runs on past blank lines.
        // Elsewhere text that is not recognised is the author's words, not output.
        k = current;
      }
      if (k == null) {
        unrecognised.add(
            source
                + ":"
                + (i + 1)
                + (end - i > 1 ? "-" + end : "")
                + ": not recognised as the output of a command the doctor reads, not read: "
                + shorten(lines[i].strip()));
        flush(blocks, current, source, buf, nums);
        buf = new ArrayList<>();
        nums = new ArrayList<>();
        i = end;
        continue;
      }
      if (current != null && k != current) {
        flush(blocks, current, source, buf, nums);
        buf = new ArrayList<>();
        nums = new ArrayList<>();
      }
      current = k;
      boolean rules = k == Kind.IPTABLES || k == Kind.IPTABLES_LEGACY;
      for (int j = i; j < end; j++) {
        buf.add(rules ? unnumbered(lines[j]) : lines[j]);
        nums.add(j + 1);
      }
      i = end;
    }
    flush(blocks, current, source, buf, nums);
  }

  /**
   * A tool's error message ("iptables v1.8.4 (legacy): can't initialize iptables table `nat':
   * Permission denied (you must be root)", "-bash: ipvsadm: command not found") and the hints
   * iptables prints after it.
   */
  private static final Pattern ERROR_LINE =
      Pattern.compile(
          "^(-?(ba|z)?sh: |sudo: )?[\\w.-]+( v[\\d.]+)?( \\([^)]*\\))?: .*"
              + "(can't|cannot|[Pp]ermission denied|not found|[Nn]o such|not permitted|[Ee]rror"
              + "|[Ii]nvalid|[Uu]nknown|[Bb]ad |not supported|you must be root).*"
              + "|^Perhaps iptables or your kernel needs to be upgraded\\.?$"
              + "|^Try `\\S+ -h' or '\\S+ --help' for more information\\.?$"
              + "|^(Error|error)( from server.*|: .*)");

  /** Whether every line of [from, to) is an error message: a command that printed no output. */
  private static boolean failed(String[] lines, int from, int to) {
    for (int j = from; j < to; j++) {
      if (!ERROR_LINE.matcher(lines[j].strip()).matches()) {
        return false;
      }
    }
    return true;
  }

  private static boolean compatible(Kind command, Kind content) {
    // ipvsadm prints both tables; iptables-legacy output reads like iptables output.
    return (command == Kind.IPVS && content == Kind.IPVS_CONNS)
        || (command == Kind.IPVS_CONNS && content == Kind.IPVS)
        || (command == Kind.IPTABLES_LEGACY && content == Kind.IPTABLES);
  }

  private static void flush(
      List<Block> blocks, Kind kind, String source, List<String> buf, List<Integer> nums) {
    int n = buf.size();
    while (n > 0 && buf.get(n - 1).isBlank()) {
      n--; // trailing blank lines belong to no block
    }
    if (kind == null || buf.subList(0, n).stream().allMatch(l -> Prompts.command(l) != null)) {
      return;
    }
    blocks.add(new Block(kind, source, buf.subList(0, n), nums.subList(0, n)));
  }

  private static boolean blank(String line) {
    return line.isBlank() || DECORATION.matcher(line).matches();
  }

  private static String shorten(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }

  /**
   * A blog's ordered-list number in front of a rule ("1. -A KUBE-SERVICES ...", "2、-A ..."): the
   * article's markup, not output. Only taken off when what follows it is a rule.
   */
  private static final Pattern LIST_NUMBER =
      Pattern.compile("^\\s*\\d{1,3}(?:\\.\\s+|、\\s*)(?=\\S)");

  /** {@code line} without a list number in front of an iptables rule; else {@code line} itself. */
  static String unnumbered(String line) {
    Matcher m = LIST_NUMBER.matcher(line);
    if (!m.find()) {
      return line;
    }
    String rest = line.substring(m.end());
    return IPT_RULE.matcher(rest.strip()).matches() ? rest : line;
  }

  /**
   * Blanks a code listing's line-number gutter as a blog page shows it when copied ("1", "2", ...
   * each on its own line, before the code): two or more lines counting up from 1.
   */
  private static void blankGutters(String[] lines) {
    int i = 0;
    while (i < lines.length) {
      int n = 0;
      while (i + n < lines.length && lines[i + n].strip().equals(Integer.toString(n + 1))) {
        n++;
      }
      if (n >= 2) {
        for (int k = i; k < i + n; k++) {
          lines[k] = "";
        }
      }
      i += Math.max(n, 1);
    }
  }

  /** The kind of output a command prints; null when its output must be recognised by content. */
  static Kind ofCommand(String cmd) {
    return ofCommand(Prompt.parse(cmd));
  }

  /** The kind of output a parsed command prints; null when its content must say. */
  static Kind ofCommand(Prompt p) {
    String prog = p.program();
    List<String> args = p.args();
    if (prog.isEmpty()) {
      return null;
    }
    return switch (prog) {
      case "iptables-save", "iptables-nft-save", "iptables", "iptables-nft" -> Kind.IPTABLES;
      case "iptables-legacy-save", "iptables-legacy" -> Kind.IPTABLES_LEGACY;
      case "ipvsadm" ->
          args.stream().anyMatch(a -> a.equals("--connection") || a.matches("-[A-Za-z]*c[A-Za-z]*"))
              ? Kind.IPVS_CONNS
              : Kind.IPVS;
      case "conntrack" ->
          args.stream().anyMatch(a -> a.equals("-L") || a.equals("--dump") || a.startsWith("-L"))
              ? Kind.CONNTRACK
              : null;
      case "sysctl" -> Kind.SYSCTL;
      case "ipset" -> Kind.IPSET;
      case "nft" -> args.contains("-j") || args.contains("--json") ? null : Kind.NFT;
      case "kubectl", "oc", "k" -> Kind.KUBE_OBJECTS;
      case "ip" -> ipObject(args);
      default -> null;
    };
  }

  /** `ip [-4] [-d] route|addr|rule ...` (any unambiguous abbreviation, as ip takes it). */
  private static Kind ipObject(List<String> args) {
    for (String a : args) {
      if (a.startsWith("-")) {
        if (a.equals("-j") || a.equals("-json")) {
          return null; // JSON: the content says which.
        }
        continue;
      }
      String o = a.toLowerCase(Locale.ROOT);
      if ("route".startsWith(o) && !o.isEmpty()) {
        return Kind.ROUTE;
      }
      if ("rule".startsWith(o) && o.length() >= 2) {
        return Kind.RULE;
      }
      if ("address".startsWith(o) && !o.isEmpty()) {
        return Kind.ADDR;
      }
      return null;
    }
    return null;
  }

  private static final Pattern IPT_TABLE = Pattern.compile("^\\*(filter|nat|mangle|raw|security)$");
  private static final Pattern IPVS_SAVE = Pattern.compile("^-[Aa] -[tuf] \\S+.*");

  /** A virtual server line of `ipvsadm -Ln` (its header lines cut off): "TCP 10.96.0.1:443 rr". */
  static final Pattern IPVS_SERVICE =
      Pattern.compile(
          "^(TCP|UDP|SCTP)\\s+\\d{1,3}(\\.\\d{1,3}){3}:\\d+\\s+[a-z]+(\\s.*)?$|^FWM\\s+\\d+\\s+[a-z]+(\\s.*)?$");

  private static final Pattern IPT_RULE =
      Pattern.compile("^(\\[\\d+:\\d+\\] )?(-A|-I|-N|-P|--append) [\\w.-]+(\\s.*)?$");
  private static final Pattern IPT_DECL = Pattern.compile("^:[\\w.-]+ (\\S+)( \\[\\d+:\\d+\\])?$");
  private static final Pattern IPT_CHAIN = Pattern.compile("^Chain \\S+ \\((policy|\\d+ ref).*");
  private static final Pattern CONNTRACK =
      Pattern.compile(
          "^(ipv[46]\\s+\\d+\\s+)?(tcp|udp|sctp|icmp|icmpv6|unknown)\\s+\\d+\\s.*src=.*");
  private static final Pattern ROUTE =
      Pattern.compile(
          "^((local|broadcast|unreachable|blackhole|prohibit|throw|unicast|multicast|anycast)\\s+)?"
              + "(default|\\d{1,3}(\\.\\d{1,3}){3}(/\\d{1,2})?)\\s+(via|dev|proto|scope|table|src|metric)\\s.*");
  private static final Pattern ADDR = Pattern.compile("^\\d+:\\s+[^:\\s]+:\\s+<.*");
  private static final Pattern RULE = Pattern.compile("^\\d+:\\s+(not\\s+)?from\\s+\\S+.*");
  private static final Pattern SYSCTL =
      Pattern.compile("^[a-z][\\w-]*([./][\\w-]+)+\\s*=\\s*[^=]*$");
  private static final Pattern IPSET = Pattern.compile("^(create \\S+ (hash|bitmap|list):\\S+.*)");
  private static final Pattern NFT =
      Pattern.compile("^table (ip|ip6|inet|arp|bridge|netdev) \\S+ \\{.*");
  private static final Pattern YAML =
      Pattern.compile(
          "^(apiVersion:|kind:|items:|---\\s*$|\\{\\s*$|\\{\\s*\"(apiVersion|kind)\").*");
  private static final Pattern KUBE_HEADER =
      Pattern.compile(
          "^(NAMESPACE\\s+)?NAME\\s+.*\\b(CLUSTER-IP|ENDPOINTS|ADDRESSTYPE|RESTARTS|INTERNAL-IP)\\b.*",
          Pattern.DOTALL);

  /** What the paragraph lines [from, to) are, by their first line(s); null when not known. */
  static Kind sniff(String[] lines, int from, int to) {
    for (int i = from; i < Math.min(to, from + 3); i++) {
      Kind k = sniffLine(unnumbered(lines[i]).strip());
      if (k != null) {
        return k;
      }
    }
    return null;
  }

  private static Kind sniffLine(String t) {
    if (t.startsWith("# Generated by iptables-save")
        || t.startsWith("# Generated by iptables-nft")) {
      return Kind.IPTABLES;
    }
    if (IPVS_SAVE.matcher(t).matches()
        || t.startsWith("IP Virtual Server version")
        || t.startsWith("Prot LocalAddress")) {
      return Kind.IPVS;
    }
    if (IPVS_SERVICE.matcher(t).matches()) {
      return Kind.IPVS;
    }
    if (t.startsWith("IPVS connection entries") || t.startsWith("Pro expire state")) {
      return Kind.IPVS_CONNS;
    }
    if (IPT_TABLE.matcher(t).matches()
        || IPT_RULE.matcher(t).matches()
        || IPT_DECL.matcher(t).matches()
        || IPT_CHAIN.matcher(t).matches()) {
      return Kind.IPTABLES;
    }
    if (CONNTRACK.matcher(t).matches() || t.startsWith("conntrack v")) {
      return Kind.CONNTRACK;
    }
    if (ADDR.matcher(t).matches()) {
      return Kind.ADDR;
    }
    if (RULE.matcher(t).matches()) {
      return Kind.RULE;
    }
    if (ROUTE.matcher(t).matches()) {
      return Kind.ROUTE;
    }
    if (IPSET.matcher(t).matches()) {
      return Kind.IPSET;
    }
    if (NFT.matcher(t).matches()) {
      return Kind.NFT;
    }
    if (KUBE_HEADER.matcher(t).matches()) {
      return Kind.KUBE_TABLE;
    }
    if (YAML.matcher(t).matches()) {
      return Kind.KUBE_OBJECTS;
    }
    if (SYSCTL.matcher(t).matches()) {
      return Kind.SYSCTL;
    }
    return null;
  }

  /**
   * The file the pasted kubectl tables are kept in beside the bundle files, so that a check can
   * cite a table row (the node a pod runs on) by its pasted line.
   */
  public static final String KUBECTL_TABLES = "kubectl-get.txt";

  /**
   * The bundle files the blocks map to (each line's origin kept), in kind order. A rule that an
   * earlier excerpt of the same file without a prompt already showed is read once: excerpts of one
   * table pasted without their command (an article's "the rules involved" for each case) show the
   * same rule again where the cases share it, and the rule is the same rule, at its first place.
   */
  public static Map<String, List<Block>> byFile(List<Block> blocks) {
    Map<String, List<Block>> out = new LinkedHashMap<>();
    Map<String, java.util.Set<String>> excerpted = new LinkedHashMap<>();
    for (Block b : blocks) {
      String file = b.kind() == Kind.KUBE_TABLE ? KUBECTL_TABLES : b.kind().file();
      if (file == null) {
        continue;
      }
      boolean rules = b.kind() == Kind.IPTABLES || b.kind() == Kind.IPTABLES_LEGACY;
      if (rules && b.lines().stream().allMatch(l -> Prompts.command(l) == null)) {
        java.util.Set<String> earlier =
            excerpted.computeIfAbsent(file, f -> new java.util.HashSet<>());
        List<String> lines = new ArrayList<>();
        List<Integer> nums = new ArrayList<>();
        List<String> mine = new ArrayList<>();
        for (int i = 0; i < b.lines().size(); i++) {
          String rule = dev.svcproxy.netfilter.Rule.withoutCounters(b.lines().get(i).strip());
          boolean isRule = IPT_RULE.matcher(b.lines().get(i).strip()).matches();
          if (isRule && earlier.contains(rule)) {
            continue;
          }
          if (isRule) {
            mine.add(rule);
          }
          lines.add(b.lines().get(i));
          nums.add(b.numbers().get(i));
        }
        earlier.addAll(mine);
        if (lines.stream().allMatch(String::isBlank)) {
          continue;
        }
        b = new Block(b.kind(), b.source(), lines, nums);
      }
      out.computeIfAbsent(file, f -> new ArrayList<>()).add(b);
    }
    return out;
  }
}
