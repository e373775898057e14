package dev.svcproxy.trace.bundle;

import dev.svcproxy.kernel.CommandResult;
import dev.svcproxy.kernel.CommandRunner;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Captures a node bundle from a live node (or a network namespace, through a runner that enters
 * it): one file per command, named as design.md §4 lists them, plus proxy-process.txt (the proxy
 * processes of the namespace). A command that fails leaves its file out, which the reader treats as
 * unknown.
 */
public final class BundleCapture {
  private static final String SYSCTL_KEYS =
      "ip_forward|rp_filter|route_localnet|bridge-nf-call-ip|tcp_be_liberal|nf_conntrack_count|nf_conntrack_max|net\\.ipv4\\.vs\\.|arp_ignore|arp_announce";

  /** {@code cat /run/flannel/subnet.env}: flannel's network and this node's subnet. */
  public static final String FLANNEL_SUBNET_ENV = "flannel-subnet.env";

  private BundleCapture() {}

  /** Captures into memory: bundle file name → contents. */
  public static Map<String, String> capture(CommandRunner runner) {
    Map<String, String> files = new LinkedHashMap<>();
    // With -c: each rule's packet/byte counters, the only sign that a rule such as kube-proxy's
    // INVALID drop is hitting traffic. Readers take the "[pkts:bytes] -A ..." form as well.
    CommandResult nft = runner.run("iptables-nft-save", "-c");
    // Before iptables 1.8 there is only `iptables-save` (legacy); it stands in for the main file.
    put(files, "iptables-save.txt", nft.ok() ? nft : runner.run("iptables-save", "-c"), false);
    CommandResult legacy = runner.run("iptables-legacy-save", "-c");
    if (legacy.ok() && legacy.stdout().contains("-A ")) {
      files.put("iptables-legacy-save.txt", legacy.stdout());
    }
    // Every table of every family, with handles, as the tracer reads it (design.md §4).
    put(files, "nft-ruleset.json", runner.run("nft", "-j", "list", "ruleset"), false);
    put(files, "ipset-save.txt", runner.run("ipset", "save"), true);
    put(files, "conntrack.txt", runner.run("conntrack", "-L", "-o", "extended"), true);
    put(files, "conntrack-stats.txt", runner.run("conntrack", "-S"), false);
    // Only where ip_vs is loaded (/proc/net/ip_vs exists in the namespace): ipvsadm would load the
    // module itself otherwise, and a capture must not change the node. No IPVS leaves both files
    // out, which the reader notes.
    if (runner.run("test", "-e", "/proc/net/ip_vs").ok()) {
      put(files, "ipvsadm-save.txt", runner.run("ipvsadm", "-S", "-n"), true);
      put(files, "ipvsadm-conns.txt", runner.run("ipvsadm", "-L", "-n", "-c"), true);
    }
    put(files, "ip-addr.json", runner.run("ip", "-j", "addr"), false);
    put(files, "ip-route.json", runner.run("ip", "-j", "route", "show", "table", "all"), false);
    put(files, "ip-rule.json", runner.run("ip", "-j", "rule"), false);
    put(files, "bridge-link.json", runner.run("bridge", "-d", "-j", "link"), true);
    CommandResult sysctl = runner.run("sysctl", "-a");
    if (sysctl.ok()) {
      StringBuilder b = new StringBuilder();
      sysctl
          .stdout()
          .lines()
          .filter(l -> l.split("=")[0].matches(".*(" + SYSCTL_KEYS + ").*"))
          .forEach(l -> b.append(l).append('\n'));
      files.put("sysctl.txt", b.toString());
    }
    // The proxy's command line tells its node name, mode and flags (--cluster-cidr...).
    ProxyProcessFacts.capture(runner).ifPresent(t -> files.put(ProxyProcessFacts.FILE, t));
    // flanneld's view of the pod network (FLANNEL_NETWORK); a file of the node, not of the
    // namespace, and only where flannel runs.
    put(files, FLANNEL_SUBNET_ENV, runner.run("cat", "/run/flannel/subnet.env"), false);
    CommandResult recent = runner.run("ls", "/proc/net/xt_recent");
    if (recent.ok()) {
      for (String name : recent.stdout().split("\\s+")) {
        if (!name.isBlank()) {
          put(files, "xt_recent/" + name, runner.run("cat", "/proc/net/xt_recent/" + name), true);
        }
      }
    }
    return files;
  }

  /**
   * Bundle files capture writes (or a person writes by hand under the same names). A capture into a
   * folder removes those it did not write this time, so no stale file from an earlier capture is
   * read as part of the new one; anything else in the folder belongs to the user and stays.
   */
  static final List<String> KNOWN_FILES =
      List.of(
          "iptables-save.txt",
          "iptables-legacy-save.txt",
          "ip6tables-save.txt",
          "nft-ruleset.json",
          "ipset-save.txt",
          "ipvsadm-save.txt",
          "ipvsadm-conns.txt",
          "conntrack.txt",
          "conntrack-stats.txt",
          "ip-addr.json",
          "ip-addr.txt",
          "ip-route.json",
          "ip-route.txt",
          "ip-rule.json",
          "ip-rule.txt",
          "bridge-link.json",
          "sysctl.txt",
          ProxyProcessFacts.FILE,
          FLANNEL_SUBNET_ENV);

  /** Bundle files only a person writes (design.md §4); a capture keeps them. */
  private static final List<String> HAND_WRITTEN =
      List.of("node.yaml", "cluster.json", "nft-ruleset.txt");

  /** What a capture into a folder did: files written, stale ones removed, the user's left alone. */
  public record Written(List<String> written, List<String> removed, List<String> untouched) {
    public Written {
      written = List.copyOf(written);
      removed = List.copyOf(removed);
      untouched = List.copyOf(untouched);
    }
  }

  /** Captures into {@code dir}, creating it; returns the names of the files written. */
  public static List<String> captureTo(CommandRunner runner, Path dir) {
    return captureInto(runner, dir).written();
  }

  /**
   * Captures into {@code dir}, creating it. Bundle files of an earlier capture that this one did
   * not write are removed; other files are left alone and listed.
   */
  public static Written captureInto(CommandRunner runner, Path dir) {
    Map<String, String> files = capture(runner);
    List<String> written = new ArrayList<>();
    List<String> removed = new ArrayList<>();
    List<String> untouched = new ArrayList<>();
    try {
      Files.createDirectories(dir);
      for (Map.Entry<String, String> e : files.entrySet()) {
        Path p = dir.resolve(e.getKey());
        Files.createDirectories(p.getParent());
        Files.writeString(p, e.getValue());
        written.add(e.getKey());
      }
      try (Stream<Path> s = Files.walk(dir, 2)) {
        for (Path p : s.filter(Files::isRegularFile).sorted().toList()) {
          String name = dir.relativize(p).toString().replace('\\', '/');
          if (written.contains(name)) {
            continue;
          }
          if (KNOWN_FILES.contains(name) || name.startsWith("xt_recent/")) {
            Files.delete(p);
            removed.add(name);
          } else if (!HAND_WRITTEN.contains(name)) {
            untouched.add(name);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new Written(written, removed, untouched);
  }

  /**
   * Fails with an input error naming {@code netns} unless it exists: commands run in a missing
   * namespace all fail, which would otherwise read as an empty node.
   */
  public static void requireNetns(CommandRunner runner, String netns) {
    CommandResult r = runner.run("ip", "netns", "exec", netns, "true");
    if (!r.ok()) {
      throw new IllegalArgumentException(
          "--netns " + netns + ": no such network namespace (" + r.firstErrorLine() + ")");
    }
  }

  private static void put(
      Map<String, String> files, String name, CommandResult r, boolean emptyOk) {
    if (r.ok() && (emptyOk || !r.stdout().isBlank())) {
      files.put(name, r.stdout());
    }
  }
}
