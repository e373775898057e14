package dev.svcproxy.doctor;

import dev.svcproxy.doctor.checks.ConntrackCheck;
import dev.svcproxy.doctor.checks.DockerCheck;
import dev.svcproxy.doctor.checks.ForwardPolicyCheck;
import dev.svcproxy.doctor.checks.IpvsCheck;
import dev.svcproxy.doctor.checks.KernelSettingsCheck;
import dev.svcproxy.doctor.checks.NodeLocalDnsCheck;
import dev.svcproxy.doctor.checks.PacketOutcomeCheck;
import dev.svcproxy.doctor.checks.PodNetworkCheck;
import dev.svcproxy.doctor.checks.ProxyRulesCheck;
import dev.svcproxy.doctor.checks.RoutingCheck;
import java.util.List;

/** Every check the doctor runs, in the order their findings are listed at equal severity. */
public final class Checks {
  private Checks() {}

  /** A fresh list of every check. */
  public static List<Check> all() {
    return List.of(
        new KernelSettingsCheck(),
        new RoutingCheck(),
        new ConntrackCheck(),
        new ProxyRulesCheck(),
        new IpvsCheck(),
        new ForwardPolicyCheck(),
        new NodeLocalDnsCheck(),
        new PodNetworkCheck(),
        new DockerCheck(),
        new PacketOutcomeCheck());
  }
}
