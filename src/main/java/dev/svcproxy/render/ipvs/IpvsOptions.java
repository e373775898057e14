package dev.svcproxy.render.ipvs;

import dev.svcproxy.model.Cidr;
import java.util.List;
import java.util.Objects;

/**
 * Options only the IPVS mode has (upstream's KubeProxyIPVSConfiguration).
 *
 * @param scheduler --ipvs-scheduler; "rr" when not given
 * @param excludeCidrs --ipvs-exclude-cidrs: virtual servers in these are never deleted
 * @param strictArp --ipvs-strict-arp: arp_ignore=1, arp_announce=2
 * @param tcpTimeoutSeconds --ipvs-tcp-timeout, 0 leaves the kernel's value
 * @param tcpFinTimeoutSeconds --ipvs-tcpfin-timeout, 0 leaves the kernel's value
 * @param udpTimeoutSeconds --ipvs-udp-timeout, 0 leaves the kernel's value
 */
public record IpvsOptions(
    String scheduler,
    List<Cidr> excludeCidrs,
    boolean strictArp,
    int tcpTimeoutSeconds,
    int tcpFinTimeoutSeconds,
    int udpTimeoutSeconds) {

  public IpvsOptions {
    scheduler = scheduler == null || scheduler.isEmpty() ? "rr" : scheduler;
    excludeCidrs = List.copyOf(excludeCidrs);
    if (tcpTimeoutSeconds < 0 || tcpFinTimeoutSeconds < 0 || udpTimeoutSeconds < 0) {
      throw new IllegalArgumentException("IPVS timeouts must not be negative");
    }
    Objects.requireNonNull(scheduler);
  }

  /** Upstream's defaults: rr, nothing excluded, no strict ARP, kernel timeouts. */
  public static IpvsOptions defaults() {
    return new IpvsOptions("rr", List.of(), false, 0, 0, 0);
  }

  /** Whether any timeout is set, so that `ipvsadm --set` is due. */
  public boolean setsTimeouts() {
    return tcpTimeoutSeconds > 0 || tcpFinTimeoutSeconds > 0 || udpTimeoutSeconds > 0;
  }
}
