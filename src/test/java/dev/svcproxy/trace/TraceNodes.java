package dev.svcproxy.trace;

import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.trace.bundle.BundleReader;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Hand-made nodes for engine tests: TracerTest's addresses and routes plus the given files. */
final class TraceNodes {
  private TraceNodes() {}

  static NodeState node(String iptables, Map<String, String> more) {
    Map<String, String> f = new HashMap<>(more);
    f.putIfAbsent("ip-addr.json", TracerTest.ADDR);
    f.putIfAbsent("ip-route.json", TracerTest.ROUTES);
    f.putIfAbsent("sysctl.txt", "net.ipv4.ip_forward = 1\n");
    if (iptables != null) {
      f.put("iptables-save.txt", iptables);
    }
    return BundleReader.fromFiles(f);
  }

  /**
   * The rules go to the engine as the codec reads them leniently, not through the bundle reader, so
   * that a bad value reaches the evaluator whatever the reader would warn about.
   */
  static NodeState withRules(String iptables, Map<String, String> sysctls) {
    NodeState base = node(null, Map.of());
    Map<String, String> s = new HashMap<>(base.sysctls());
    s.putAll(sysctls);
    return new NodeState(
        base.interfaces(),
        base.routes(),
        base.rules(),
        s,
        List.of(IptablesCodec.parse(iptables, "iptables-save.txt").ruleset()),
        base.ipsets(),
        base.conntrack(),
        base.recent(),
        base.warnings(),
        List.of());
  }

  static double total(TraceResult r) {
    return r.outcomes().stream().mapToDouble(Outcome::probability).sum();
  }
}
