package dev.svcproxy.kernel;

import dev.svcproxy.kernel.KernelCapabilities.Capability;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Probes {@link KernelCapabilities} through {@link IptablesKernel}'s commands. {@code run} probes
 * and ensures (it creates the nfacct counters, as upstream does at start); {@code render} only
 * predicts what that would find, changing nothing, and says which capabilities it could not tell.
 */
public final class CapabilityProbe {
  private static final List<String> COUNTERS =
      List.of(KernelCapabilities.LOCALHOST_NPS_COUNTER, KernelCapabilities.INVALID_DROPPED_COUNTER);

  private CapabilityProbe() {}

  /**
   * What a read-only probe found.
   *
   * @param unknown capabilities the probe could not tell, each with why; they are absent from
   *     {@code capabilities}
   */
  public record Prediction(KernelCapabilities capabilities, Map<Capability, String> unknown) {
    public Prediction {
      Map<Capability, String> copy = new EnumMap<>(Capability.class);
      copy.putAll(unknown);
      unknown = Collections.unmodifiableMap(copy);
    }

    /** An exact statement, nothing probed. */
    public static Prediction stated(KernelCapabilities caps) {
      return new Prediction(caps, Map.of());
    }
  }

  /** What run probes once at start: --random-fully and nf_conntrack_tcp_be_liberal. */
  public static KernelCapabilities startup(IptablesKernel kernel, KernelCapabilities base) {
    String liberal = kernel.sysctl("net.netfilter.nf_conntrack_tcp_be_liberal");
    // Unreadable (nf_conntrack not loaded) counts as off, as upstream's sysctl read failing does.
    boolean beLiberal = liberal != null && !liberal.equals("0");
    return base.withRandomFully(kernel.supportsRandomFully()).withConntrackTcpBeLiberal(beLiberal);
  }

  /** Ensures both nfacct counters (run, on every full sync); absent ones could not be created. */
  public static KernelCapabilities ensureCounters(IptablesKernel kernel, KernelCapabilities base) {
    return base.withNfacct(
        kernel.ensureNfacct(KernelCapabilities.LOCALHOST_NPS_COUNTER),
        kernel.ensureNfacct(KernelCapabilities.INVALID_DROPPED_COUNTER));
  }

  /**
   * What {@code run} would find on this node, without changing it: the startup probe as run makes
   * it, and a counter counts as present when it exists or when nfacct works here (run would create
   * it). Without the privilege to ask nfacct, the counters are unknown.
   */
  public static Prediction predict(IptablesKernel kernel) {
    KernelCapabilities caps = startup(kernel, KernelCapabilities.none());
    Map<Capability, String> unknown = new EnumMap<>(Capability.class);
    CommandResult list = null;
    for (int i = 0; i < COUNTERS.size(); i++) {
      Capability c =
          i == 0 ? Capability.NFACCT_LOCALHOST_NODEPORTS : Capability.NFACCT_INVALID_DROPPED;
      if (kernel.nfacct("get", COUNTERS.get(i)).ok()) {
        caps = caps.with(c, true);
        continue;
      }
      if (list == null) {
        list = kernel.nfacct("list");
      }
      if (list.ok()) {
        caps = caps.with(c, true);
      } else if (notPermitted(list)) {
        unknown.put(c, "nfacct list: " + list.firstErrorLine());
      }
      // Otherwise nfacct cannot work here (no binary, no nfnetlink_acct): run's add fails too.
    }
    return new Prediction(caps, unknown);
  }

  private static boolean notPermitted(CommandResult r) {
    String s = (r.stderr() + r.stdout()).toLowerCase(java.util.Locale.ROOT);
    return s.contains("not permitted") || s.contains("permission denied");
  }
}
