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
