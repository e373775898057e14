package dev.svcproxy.doctor;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.trace.bundle.ProxyProcessFacts;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The node facts the proxy's own command line tells (proxy-process.txt, written by a capture): the
 * node's name, the proxy's mode and flags, where node.yaml does not say them.
 */
public final class ProxyFlags {
  private ProxyFlags() {}

  /** The proxy process the facts are read from (the first listed) and its line in the file. */
  private record Found(ProxyProcessFacts.Process process, int line, String text) {}

  private static Optional<Found> first(BundleFiles files) {
    Optional<String> text = files.text(ProxyProcessFacts.FILE);
    if (text.isEmpty()) {
      return Optional.empty();
    }
    // The same lines parse() reads, counted so that evidence names the one the facts came from.
    List<String> lines = text.get().lines().toList();
    for (int i = 0; i < lines.size(); i++) {
      List<ProxyProcessFacts.Process> p = ProxyProcessFacts.parse(lines.get(i));
      if (!p.isEmpty()) {
        return Optional.of(new Found(p.get(0), i + 1, lines.get(i).strip()));
      }
    }
    return Optional.empty();
  }

  /**
   * Where the proxy's command line shows {@code flag} ({@code "--flag=value"}, {@code "--flag
   * value"} or a bare {@code "--flag"}): on a bundle its line of proxy-process.txt, live the
   * command that shows the process's arguments. Empty when no proxy process is known or it was
   * started without the flag.
   */
  public static Optional<Evidence> evidence(BundleFiles files, String flag) {
    Optional<Found> found = first(files);
    if (found.isEmpty()) {
      return Optional.empty();
    }
    List<String> f = found.get().process().flags();
    for (int i = 0; i < f.size(); i++) {
      String a = f.get(i);
      if (a.startsWith(flag + "=")) {
        return Optional.of(cite(files, found.get(), a));
      }
      if (a.equals(flag)) {
        // As NodeFacts.flag reads it: the next argument is the value unless it is a flag itself.
        boolean valued = i + 1 < f.size() && !f.get(i + 1).startsWith("-");
        return Optional.of(cite(files, found.get(), valued ? a + " " + f.get(i + 1) : a));
      }
    }
    return Optional.empty();
  }

  /**
   * The proxy's whole command line as evidence, labelled ({@code "no --cluster-cidr: 1234
   * kube-proxy ..."}), for a flag it was started without. Empty when no proxy process is known.
   */
  public static Optional<Evidence> commandLine(BundleFiles files, String label) {
    return first(files).map(f -> cite(files, f, label + ": " + f.text()));
  }

  private static Evidence cite(BundleFiles files, Found f, String text) {
    if (files.isLive()) {
      return Evidence.command("cat /proc/" + f.process().pid() + "/cmdline", text);
    }
    return Evidence.at(ProxyProcessFacts.FILE, f.line(), text);
  }

  /**
   * Where the node fact {@code field} of node.yaml was read: node.yaml's line when the file says it
   * (it wins over the flags, see {@link #merge}), else the proxy's {@code flag}.
   */
  public static Optional<Evidence> source(BundleFiles files, String field, String flag) {
    return files
        .first(NodeFacts.FILE, l -> l.strip().startsWith(field + ":"))
        .or(() -> evidence(files, flag));
  }

  /**
   * {@code facts} completed from the proxy's command line in proxy-process.txt: what node.yaml says
   * wins (a person wrote it on purpose); the rest comes from the flags.
   */
  public static NodeFacts merge(NodeFacts facts, BundleFiles files) {
    Optional<String> text = files.text(ProxyProcessFacts.FILE);
    if (text.isEmpty()) {
      return facts;
    }
    List<ProxyProcessFacts.Process> ps = ProxyProcessFacts.parse(text.get());
    if (ps.isEmpty()) {
      return facts;
    }
    List<String> flags = ps.get(0).flags();
    NodeFacts fromFlags =
        new NodeFacts(
            Optional.empty(),
            List.of(),
            List.of(),
            List.of(),
            List.of(),
            Optional.empty(),
            Optional.of(flags));
    Optional<String> name =
        fromFlags.flag("--hostname-override").or(() -> fromFlags.flag("--node-name"));
    Optional<String> mode = fromFlags.flag("--proxy-mode").or(() -> fromFlags.flag("--mode"));
    List<Cidr> clusterCidrs = new ArrayList<>();
    fromFlags
        .flag("--cluster-cidr")
        .ifPresent(
            v -> {
              for (String c : v.split(",")) {
                try {
                  clusterCidrs.add(Cidr.parseSloppy(c.strip()));
                } catch (IllegalArgumentException e) {
                  // A flag the proxy itself would refuse: leave the fact unknown.
                }
              }
            });
    List<String> nodeIps = new ArrayList<>();
    fromFlags.flag("--node-ip").ifPresent(nodeIps::add);
    fromFlags.flag("--bind-address").filter(ip -> !ip.startsWith("0.")).ifPresent(nodeIps::add);
    return new NodeFacts(
        facts.nodeName().or(() -> name),
        facts.nodeIps().isEmpty() ? nodeIps : facts.nodeIps(),
        facts.podCidrs(),
        facts.clusterCidrs().isEmpty() ? clusterCidrs : facts.clusterCidrs(),
        facts.serviceCidrs(),
        facts.proxyMode().or(() -> mode.filter(m -> m.matches("iptables|ipvs|nftables"))),
        facts.proxyArgs().or(() -> Optional.of(flags)));
  }
}
