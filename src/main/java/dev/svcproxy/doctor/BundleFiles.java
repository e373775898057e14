package dev.svcproxy.doctor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * The text of every file the node state was read from, kept so a finding can cite the line that
 * shows it: {@code iptables-save.txt:42} for a bundle; on a live node the command that printed it
 * and the line in its output.
 */
public final class BundleFiles {
  /** The command behind each bundle file, as a person would run it on the node. */
  private static final Map<String, String> COMMANDS =
      Map.ofEntries(
          Map.entry("iptables-save.txt", "iptables-save"),
          Map.entry("iptables-legacy-save.txt", "iptables-legacy-save"),
          Map.entry("ip6tables-save.txt", "ip6tables-save"),
          Map.entry("nft-ruleset.json", "nft -a list ruleset"),
          Map.entry("nft-ruleset.txt", "nft -a list ruleset"),
          Map.entry("ipset-save.txt", "ipset save"),
          Map.entry("ipvsadm-save.txt", "ipvsadm -Sn"),
          Map.entry("ipvsadm-conns.txt", "ipvsadm -Lnc"),
          Map.entry("conntrack.txt", "conntrack -L -o extended"),
          Map.entry("conntrack-stats.txt", "conntrack -S"),
          Map.entry("ip-addr.json", "ip addr"),
          Map.entry("ip-addr.txt", "ip addr"),
          Map.entry("ip-route.json", "ip route show table all"),
          Map.entry("ip-route.txt", "ip route show table all"),
          Map.entry("ip-rule.json", "ip rule"),
          Map.entry("ip-rule.txt", "ip rule"),
          Map.entry("bridge-link.json", "bridge link"),
          Map.entry("sysctl.txt", "sysctl -a"),
          Map.entry("flannel-subnet.env", "cat /run/flannel/subnet.env"));

  private final Map<String, String> files;
  private final boolean live;

  /** Per file, where each of its lines was pasted ("issue.txt:42"; null: no line of its own). */
  private final Map<String, List<String>> origins;

  private BundleFiles(Map<String, String> files, boolean live) {
    this(files, live, Map.of());
  }

  private BundleFiles(Map<String, String> files, boolean live, Map<String, List<String>> origins) {
    this.files = new TreeMap<>(files);
    this.live = live;
    this.origins = Map.copyOf(origins);
  }

  /**
   * Files assembled from pasted output: {@code origins} gives, per file, the place each line was
   * pasted at, which evidence then cites instead of the bundle file's name.
   */
  public static BundleFiles pasted(Map<String, String> files, Map<String, List<String>> origins) {
    return new BundleFiles(files, false, origins);
  }

  /** The files of a bundle directory (or pasted by hand), by bundle file name. */
  public static BundleFiles bundle(Map<String, String> files) {
    return new BundleFiles(files, false);
  }

  /** The same contents captured from a live node: evidence names the command, not the file. */
  public static BundleFiles live(Map<String, String> files) {
    return new BundleFiles(files, true);
  }

  public boolean isLive() {
    return live;
  }

  public boolean has(String file) {
    return files.containsKey(file);
  }

  /**
   * Whether {@code file} was assembled from pasted output (a person's paste or a file under another
   * name in a bundle directory), so it shows what was pasted, not necessarily the whole command.
   */
  public boolean isPasted(String file) {
    return origins.containsKey(file);
  }

  /** The file names present. */
  public List<String> names() {
    return List.copyOf(files.keySet());
  }

  public Optional<String> text(String file) {
    return Optional.ofNullable(files.get(file));
  }

  /**
   * Every line of {@code file} that {@code line} accepts, as evidence with its line number (the
   * line stripped of surrounding blanks).
   */
  public List<Evidence> find(String file, Predicate<String> line) {
    String t = files.get(file);
    if (t == null) {
      return List.of();
    }
    List<Evidence> out = new ArrayList<>();
    String[] lines = t.split("\n", -1);
    Map<Integer, String> listed = renditions(file);
    for (int i = 0; i < lines.length; i++) {
      if (line.test(lines[i])) {
        out.add(at(file, i + 1, lines[i].strip()));
      } else if (listed.containsKey(i + 1) && line.test(listed.get(i + 1))) {
        // An `iptables -L` line read as the rule a check looks for by its iptables-save text: the
        // rule is cited at the listing line, shown as iptables-save writes it.
        out.add(at(file, i + 1, listed.get(i + 1)));
      }
    }
    return out;
  }

  private final Map<String, Map<Integer, String>> renditions =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** An iptables file's listing lines as iptables-save text (empty for other files and dumps). */
  private Map<Integer, String> renditions(String file) {
    if (!file.matches("ip6?tables(-legacy)?-save\\.txt")) {
      return Map.of();
    }
    return renditions.computeIfAbsent(
        file,
        f -> {
          String t = files.get(f);
          return t.contains("Chain ")
              ? dev.svcproxy.trace.bundle.ListingRenditions.of(t)
              : Map.of();
        });
  }

  /**
   * A line as evidence shows it: a rule of an iptables-save file without the counters iptables-save
   * -c puts in front (captures save them; the rule reads as a person writes it, and the line number
   * is the same with or without -c). A check whose point is the counters shows them itself.
   */
  static String shown(String file, String line) {
    return file.matches("ip6?tables(-legacy)?-save\\.txt")
        ? dev.svcproxy.netfilter.Rule.withoutCounters(line)
        : line;
  }

  /** The first line of {@code file} that {@code line} accepts. */
  public Optional<Evidence> first(String file, Predicate<String> line) {
    List<Evidence> all = find(file, line);
    return all.isEmpty() ? Optional.empty() : Optional.of(all.get(0));
  }

  /**
   * Evidence at a known line of {@code file} (0: the file as a whole, e.g. a fact derived from a
   * JSON file). A rule's iptables-save -c counters are left out of the text (see {@link #shown}).
   */
  public Evidence at(String file, int line, String raw) {
    String text = shown(file, raw);
    List<String> o = origins.get(file);
    if (o != null && line > 0 && line <= o.size() && o.get(line - 1) != null) {
      return new Evidence(o.get(line - 1), text);
    }
    if (!live) {
      return Evidence.at(file, line, text);
    }
    String cmd = COMMANDS.getOrDefault(file, file);
    return Evidence.command(line > 0 ? cmd + " (line " + line + ")" : cmd, text);
  }

  /**
   * The line of sysctl.txt whose value of {@code key} (dots or slashes) the node state holds, or on
   * a live node the command that shows it. A key set on several lines (two pastes, or `sysctl -w`
   * after `sysctl -a`) is read as the kernel keeps it, the last write winning: the reader keeps the
   * last valid value, and this cites that line, not the first one that names the key. When no line
   * holds a value the reader took, the last line naming the key shows what was ignored.
   */
  public Optional<Evidence> sysctl(String key) {
    String k = key.replace('/', '.');
    String text = files.get("sysctl.txt");
    List<Evidence> lines =
        find(
            "sysctl.txt",
            l -> {
              int eq = l.indexOf('=');
              return eq > 0 && l.substring(0, eq).strip().replace('/', '.').equals(k);
            });
    if (text == null || lines.isEmpty()) {
      return Optional.empty();
    }
    // The value the tracer and the checks use, read by the same reader.
    String used =
        dev.svcproxy.trace.bundle.BundleReader.fromFiles(Map.of("sysctl.txt", text))
            .sysctls()
            .get(k);
    Evidence cited = lines.get(lines.size() - 1);
    for (int i = lines.size() - 1; i >= 0; i--) {
      String t = lines.get(i).text();
      if (used != null && t.substring(t.indexOf('=') + 1).strip().equals(used)) {
        cited = lines.get(i);
        break;
      }
    }
    Optional<Evidence> line = Optional.of(cited);
    if (!live) {
      return line;
    }
    return line.map(e -> Evidence.command("sysctl " + k, e.text()));
  }

  /**
   * {@code text} (a warning or an assumption worded for a bundle) as it reads on a live node, where
   * there are no files: "no iptables-save.txt: ..." becomes "no `iptables-save` output: ...", and
   * any other bundle file name the command that prints it.
   */
  public static String inLiveWords(String text) {
    String out = text;
    List<String> names = new ArrayList<>(COMMANDS.keySet());
    // Longer names first, so that no name is replaced inside a longer one.
    names.sort(java.util.Comparator.comparingInt(String::length).reversed());
    for (String f : names) {
      String q = java.util.regex.Pattern.quote(f);
      String cmd = java.util.regex.Matcher.quoteReplacement("`" + COMMANDS.get(f) + "`");
      out = out.replaceAll("(?<![\\w.-])no " + q + "(?![\\w.-])", "no " + cmd + " output");
      out = out.replaceAll("(?<![\\w.-])" + q + "(?![\\w.-])", cmd);
    }
    return out;
  }

  /** The command that produces {@code file} on a node. */
  public static String commandFor(String file) {
    return COMMANDS.getOrDefault(file, "cat " + file);
  }
}
