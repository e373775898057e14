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

/**
 * Captures a node bundle from a live node (or a network namespace, through a runner that enters
 * it): one file per command, named as design.md §4 lists them. A command that fails leaves its file
 * out, which the reader treats as unknown.
 */
public final class BundleCapture {
  private static final String SYSCTL_KEYS =
      "ip_forward|rp_filter|route_localnet|bridge-nf-call-ip|tcp_be_liberal|vs\\.conntrack|arp_ignore|arp_announce";

  private BundleCapture() {}

  /** Captures into memory: bundle file name → contents. */
  public static Map<String, String> capture(CommandRunner runner) {
    Map<String, String> files = new LinkedHashMap<>();
    CommandResult nft = runner.run("iptables-nft-save");
    // Before iptables 1.8 there is only `iptables-save` (legacy); it stands in for the main file.
    put(files, "iptables-save.txt", nft.ok() ? nft : runner.run("iptables-save"), false);
    CommandResult legacy = runner.run("iptables-legacy-save");
    if (legacy.ok() && legacy.stdout().contains("-A ")) {
      files.put("iptables-legacy-save.txt", legacy.stdout());
    }
    put(files, "ipset-save.txt", runner.run("ipset", "save"), true);
    put(files, "conntrack.txt", runner.run("conntrack", "-L", "-o", "extended"), true);
    put(files, "ip-addr.json", runner.run("ip", "-j", "addr"), false);
    put(files, "ip-route.json", runner.run("ip", "-j", "route", "show", "table", "all"), false);
    put(files, "ip-rule.json", runner.run("ip", "-j", "rule"), false);
    put(files, "bridge-link.json", runner.run("bridge", "-j", "link"), true);
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

  /** Captures into {@code dir}, creating it; returns the names of the files written. */
  public static List<String> captureTo(CommandRunner runner, Path dir) {
    Map<String, String> files = capture(runner);
    List<String> written = new ArrayList<>();
    try {
      Files.createDirectories(dir);
      for (Map.Entry<String, String> e : files.entrySet()) {
        Path p = dir.resolve(e.getKey());
        Files.createDirectories(p.getParent());
        Files.writeString(p, e.getValue());
        written.add(e.getKey());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return written;
  }

  private static void put(
      Map<String, String> files, String name, CommandResult r, boolean emptyOk) {
    if (r.ok() && (emptyOk || !r.stdout().isBlank())) {
      files.put(name, r.stdout());
    }
  }
}
