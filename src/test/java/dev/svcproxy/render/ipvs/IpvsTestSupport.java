package dev.svcproxy.render.ipvs;

import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import dev.svcproxy.kernel.KernelCapabilities;
import dev.svcproxy.model.LocalTrafficDetector;
import dev.svcproxy.model.ProxyConfig;
import dev.svcproxy.netfilter.Arg;
import dev.svcproxy.netfilter.IpsetCodec;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.netfilter.Table;
import dev.svcproxy.testutil.States;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Reads an IpvsState the way upstream's proxier_test.go helpers read its fakes. */
final class IpvsTestSupport {
  /** upstream's testNodeName. */
  static final String NODE = "test-node";

  private IpvsTestSupport() {}

  /**
   * Upstream's NewFakeProxier: node "test-node", no node IP, the NoOp local detector, rr, NodePorts
   * on every address, no --random-fully.
   */
  static ProxyConfig fakeConfig() {
    return ProxyConfig.defaults(NODE, "", LocalTrafficDetector.none());
  }

  static IpvsState render(String yaml, List<String> nodeIPs) {
    return render(yaml, fakeConfig(), nodeIPs);
  }

  static IpvsState render(String yaml, ProxyConfig cfg, List<String> nodeIPs) {
    return new IpvsRenderer(cfg, IpvsOptions.defaults(), KernelCapabilities.none(), "6.1.0")
        .render(States.fromYaml(yaml), nodeIPs);
  }

  static Optional<IpvsService> vs(IpvsState s, String proto, String ip, int port) {
    return s.services().find(VirtualServer.Kind.valueOf(proto), ip, port);
  }

  /** The real servers of a virtual server as upstream's RealServer.String() prints them. */
  static List<String> reals(IpvsState s, String proto, String ip, int port) {
    return vs(s, proto, ip, port)
        .orElseThrow(() -> new AssertionError("no virtual server " + proto + " " + ip + ":" + port))
        .reals()
        .stream()
        .map(RealServer::target)
        .toList();
  }

  static List<String> members(IpvsState s, String set) {
    return s.ipsets().stream()
        .filter(x -> x.name().equals(set))
        .findFirst()
        .map(IpsetCodec.IpSet::members)
        .orElseThrow(() -> new AssertionError("no set " + set));
  }

  /**
   * The rules of {@code chain} as upstream's checkIptables reads them: nat then filter (a chain
   * name in both tables lists both), each "JUMP MATCHSET" ("KUBE-NODE-PORT" alone when no set).
   */
  static List<String> chain(IpvsState s, String chain) {
    List<String> out = new ArrayList<>();
    for (String table : List.of("nat", "filter")) {
      Optional<Table> t = s.iptables().table(table);
      if (t.isEmpty()) {
        continue;
      }
      for (Rule r : t.get().rules(chain)) {
        String set =
            r.args().stream()
                .filter(a -> a instanceof Arg.Option o && o.flag().equals("--match-set"))
                .map(a -> ((Arg.Option) a).values().get(0).text())
                .findFirst()
                .orElse("");
        out.add(set.isEmpty() ? r.target() : r.target() + " " + set);
      }
    }
    return out;
  }

  /** Every rule line of both tables, "-A ...". */
  static List<String> ruleLines(IpvsState s) {
    List<String> out = new ArrayList<>();
    s.iptables().tables().forEach(t -> t.rules().forEach(r -> out.add(r.print())));
    return out;
  }
}
