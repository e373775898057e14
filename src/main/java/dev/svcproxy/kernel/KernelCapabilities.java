package dev.svcproxy.kernel;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * What probing the node found, as far as it changes the rules a proxy writes.
 *
 * @param nfacctLocalhostNodePorts the localhost_nps_accepted_pkts nfacct counter exists
 * @param nfacctInvalidDropped the ct_state_invalid_dropped_pkts nfacct counter exists
 * @param randomFully iptables knows MASQUERADE --random-fully (1.6.2 or newer)
 * @param conntrackTcpBeLiberal net.netfilter.nf_conntrack_tcp_be_liberal is set, so upstream leaves
 *     out its INVALID drop rule
 */
public record KernelCapabilities(
    boolean nfacctLocalhostNodePorts,
    boolean nfacctInvalidDropped,
    boolean randomFully,
    boolean conntrackTcpBeLiberal) {

  /** The counter upstream matches on localhost NodePort rules. */
  public static final String LOCALHOST_NPS_COUNTER = "localhost_nps_accepted_pkts";

  /** The counter upstream matches on its INVALID drop rule. */
  public static final String INVALID_DROPPED_COUNTER = "ct_state_invalid_dropped_pkts";

  /** One capability, named as the render command's --kernel-capabilities flag names it. */
  public enum Capability {
    NFACCT_LOCALHOST_NODEPORTS,
    NFACCT_INVALID_DROPPED,
    RANDOM_FULLY,
    TCP_BE_LIBERAL;

    /** "nfacct-localhost-nodeports", ... */
    public String flagName() {
      return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static Capability parse(String s) {
      for (Capability c : values()) {
        if (c.flagName().equals(s.strip())) {
          return c;
        }
      }
      throw new IllegalArgumentException(
          "unknown kernel capability \""
              + s
              + "\" (nfacct-localhost-nodeports, nfacct-invalid-dropped, random-fully,"
              + " tcp-be-liberal)");
    }
  }

  /** Nothing probed or nothing found: no nfacct, no --random-fully, be_liberal off. */
  public static KernelCapabilities none() {
    return new KernelCapabilities(false, false, false, false);
  }

  /** Exactly the given capabilities. */
  public static KernelCapabilities of(Set<Capability> present) {
    return new KernelCapabilities(
        present.contains(Capability.NFACCT_LOCALHOST_NODEPORTS),
        present.contains(Capability.NFACCT_INVALID_DROPPED),
        present.contains(Capability.RANDOM_FULLY),
        present.contains(Capability.TCP_BE_LIBERAL));
  }

  public boolean has(Capability c) {
    return switch (c) {
      case NFACCT_LOCALHOST_NODEPORTS -> nfacctLocalhostNodePorts;
      case NFACCT_INVALID_DROPPED -> nfacctInvalidDropped;
      case RANDOM_FULLY -> randomFully;
      case TCP_BE_LIBERAL -> conntrackTcpBeLiberal;
    };
  }

  public Set<Capability> present() {
    Set<Capability> out = EnumSet.noneOf(Capability.class);
    for (Capability c : Capability.values()) {
      if (has(c)) {
        out.add(c);
      }
    }
    return out;
  }

  /** These capabilities with {@code c} set to {@code on}. */
  public KernelCapabilities with(Capability c, boolean on) {
    Set<Capability> p = present();
    if (on) {
      p.add(c);
    } else {
      p.remove(c);
    }
    return of(p);
  }

  public KernelCapabilities withNfacct(boolean localhostNps, boolean invalidDropped) {
    return new KernelCapabilities(localhostNps, invalidDropped, randomFully, conntrackTcpBeLiberal);
  }

  public KernelCapabilities withRandomFully(boolean on) {
    return with(Capability.RANDOM_FULLY, on);
  }

  public KernelCapabilities withConntrackTcpBeLiberal(boolean on) {
    return with(Capability.TCP_BE_LIBERAL, on);
  }
}
