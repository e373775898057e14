package dev.svcproxy.sync.ipvs;

import dev.svcproxy.ipvs.IpvsService;
import dev.svcproxy.ipvs.IpvsTable;
import dev.svcproxy.ipvs.IpvsadmCodec;
import dev.svcproxy.ipvs.RealServer;
import dev.svcproxy.ipvs.VirtualServer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The `ipvsadm -R` lines that turn the IPVS table the kernel holds into the desired one, as
 * upstream's syncService / syncEndpoint / cleanLegacyService and graceful termination decide
 * (pure).
 */
public final class ServiceDiff {

  /**
   * What a diff decided.
   *
   * @param lines `ipvsadm -R` input lines, in order
   * @param terminating real servers at weight 0 waiting for their connections to drain, by {@link
   *     #rsKey}
   * @param after the table the kernel holds once the lines are applied
   */
  public record Plan(List<String> lines, Set<String> terminating, IpvsTable after) {
    public Plan {
      lines = List.copyOf(lines);
      terminating = Set.copyOf(terminating);
    }
  }

  private ServiceDiff() {}

  /**
   * The lines from {@code current} to {@code desired}.
   *
   * @param terminating real servers already draining (left alone while not desired)
   * @param keep virtual servers that are not ours to delete (in --ipvs-exclude-cidrs)
   * @param connections ActiveConn+InActConn per {@link #rsKey}, asked only when a TCP real server
   *     must go
   */
  public static Plan diff(
      IpvsTable current,
      IpvsTable desired,
      Set<String> terminating,
      Predicate<VirtualServer> keep,
      Supplier<Map<String, Integer>> connections) {
    List<String> lines = new ArrayList<>();
    Set<String> draining = new LinkedHashSet<>(terminating);
    Map<String, IpvsService> cur = current.byKey();
    Map<String, IpvsService> want = desired.byKey();
    List<IpvsService> after = new ArrayList<>();
    for (IpvsService d : desired.services()) {
      VirtualServer vs = d.server();
      IpvsService c = cur.get(vs.key());
      if (c == null) {
        lines.add(service("-A", vs));
        d.reals().forEach(r -> lines.add(real("-a", vs, r)));
        after.add(d);
        continue;
      }
      if (!sameService(c.server(), vs)) {
        lines.add(service("-E", vs));
      }
      Map<String, RealServer> have = new LinkedHashMap<>();
      c.reals().forEach(r -> have.put(r.target(), r));
      List<RealServer> reals = new ArrayList<>();
      for (RealServer r : d.reals()) {
        RealServer h = have.get(r.target());
        boolean wasDraining = draining.remove(rsKey(vs, r));
        if (h == null) {
          lines.add(real("-a", vs, r));
        } else if (wasDraining) {
          // Upstream takes a returning endpoint out of graceful deletion by deleting and
          // re-adding it.
          lines.add(realDelete(vs, h));
          lines.add(real("-a", vs, r));
        } else if (h.weight() != r.weight() || h.method() != r.method()) {
          // Also the first sync after a restart: weights a previous run left at 0 go back to 1.
          lines.add(real("-e", vs, r));
        }
        reals.add(r);
      }
      Set<String> desiredTargets = new LinkedHashSet<>();
      d.reals().forEach(r -> desiredTargets.add(r.target()));
      for (RealServer h : c.reals()) {
        if (desiredTargets.contains(h.target())) {
          continue;
        }
        String id = rsKey(vs, h);
        if (draining.contains(id)) {
          reals.add(h);
          continue;
        }
        if (vs.kind() == VirtualServer.Kind.UDP
            || vs.kind() == VirtualServer.Kind.SCTP
            || connections.get().getOrDefault(id, 0) == 0) {
          lines.add(realDelete(vs, h));
          continue;
        }
        if (h.weight() != 0) {
          lines.add(real("-e", vs, h.withWeight(0)));
        }
        draining.add(id);
        reals.add(h.withWeight(0));
      }
      after.add(new IpvsService(vs, reals));
    }
    for (IpvsService c : current.services()) {
      VirtualServer vs = c.server();
      if (want.containsKey(vs.key())) {
        continue;
      }
      String prefix = vs.key() + "/";
      if (keep.test(vs)) {
        after.add(c);
        continue;
      }
      lines.add(serviceDelete(vs));
      draining.removeIf(id -> id.startsWith(prefix));
    }
    // Draining entries whose real server is gone (deleted from outside) are done.
    Set<String> present = new LinkedHashSet<>();
    after.forEach(s -> s.reals().forEach(r -> present.add(rsKey(s.server(), r))));
    draining.retainAll(present);
    return new Plan(lines, draining, new IpvsTable(after));
  }

  /**
   * The lines that delete the draining real servers whose connections are gone ({@code connections}
   * from a fresh `ipvsadm -Ln`), and the set still draining.
   */
  public static Plan retryDraining(
      IpvsTable current, Set<String> terminating, Map<String, Integer> connections) {
    List<String> lines = new ArrayList<>();
    Set<String> left = new LinkedHashSet<>();
    List<IpvsService> after = new ArrayList<>();
    for (IpvsService s : current.services()) {
      List<RealServer> reals = new ArrayList<>();
      for (RealServer r : s.reals()) {
        String id = rsKey(s.server(), r);
        if (!terminating.contains(id)) {
          reals.add(r);
        } else if (!connections.containsKey(id)) {
          // Gone from the kernel already.
          continue;
        } else if (connections.get(id) == 0) {
          lines.add(realDelete(s.server(), r));
        } else {
          left.add(id);
          reals.add(r);
        }
      }
      after.add(new IpvsService(s.server(), reals));
    }
    return new Plan(lines, left, new IpvsTable(after));
  }

  /** "TCP 10.96.0.1:443/10.244.1.5:8080", upstream's unique real server name. */
  public static String rsKey(VirtualServer vs, RealServer r) {
    return vs.key() + "/" + r.target();
  }

  /** Whether the kernel's service needs no `-E` to become {@code want}. */
  static boolean sameService(VirtualServer have, VirtualServer want) {
    return have.scheduler().equals(want.scheduler())
        && have.schedulerFlags().equals(want.schedulerFlags())
        && have.persistenceTimeout() == want.persistenceTimeout()
        && (want.persistenceTimeout() == 0
            || mask(have.persistenceNetmask()).equals(mask(want.persistenceNetmask())))
        && have.onePacket() == want.onePacket();
  }

  private static String mask(String m) {
    return m.isEmpty() ? "255.255.255.255" : m;
  }

  static String service(String command, VirtualServer vs) {
    return String.join(
        " ", command.equals("-A") ? IpvsadmCodec.addService(vs) : IpvsadmCodec.editService(vs));
  }

  static String real(String command, VirtualServer vs, RealServer r) {
    return String.join(
        " ", command.equals("-a") ? IpvsadmCodec.addReal(vs, r) : IpvsadmCodec.editReal(vs, r));
  }

  static String realDelete(VirtualServer vs, RealServer r) {
    return String.join(" ", IpvsadmCodec.deleteReal(vs, r));
  }

  static String serviceDelete(VirtualServer vs) {
    return String.join(" ", IpvsadmCodec.deleteService(vs));
  }
}
