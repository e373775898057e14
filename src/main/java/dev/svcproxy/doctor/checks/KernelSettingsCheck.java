package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.Catalogue;
import dev.svcproxy.doctor.Check;
import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.doctor.Evidence;
import dev.svcproxy.doctor.Finding;
import dev.svcproxy.doctor.Severity;
import java.util.ArrayList;
import java.util.List;

/** Kernel settings a Service data plane needs on every node. */
public final class KernelSettingsCheck implements Check {
  static final Catalogue.Entry IP_FORWARD_OFF =
      new Catalogue.Entry(
          "ip-forward-off",
          Severity.ERROR,
          "IP forwarding is off",
          List.of(
              "https://kubernetes.io/docs/setup/production-environment/container-runtimes/#prerequisite-ipv4-forwarding-optional"));

  @Override
  public List<Catalogue.Entry> entries() {
    return List.of(IP_FORWARD_OFF);
  }

  @Override
  public List<Finding> run(DoctorContext ctx) {
    List<Finding> out = new ArrayList<>();
    String forward = ctx.node().sysctls().get("net.ipv4.ip_forward");
    if (forward == null) {
      ctx.assume("net.ipv4.ip_forward unknown (no sysctl.txt): assumed 1");
    } else if (forward.strip().equals("0")) {
      Evidence e =
          ctx.files()
              .sysctl("net.ipv4.ip_forward")
              .orElse(Evidence.command("sysctl net.ipv4.ip_forward", "net.ipv4.ip_forward = 0"));
      out.add(
          IP_FORWARD_OFF.finding(
              "net.ipv4.ip_forward is 0: the node does not route packets between interfaces",
              List.of(e),
              "Every Service packet the node must pass on is dropped after DNAT: pods reaching a"
                  + " ClusterIP or NodePort whose endpoint is on another node, external clients"
                  + " reaching a NodePort or LoadBalancer served elsewhere, and pod-to-pod traffic"
                  + " through the node. Only endpoints on the node itself answer.",
              "sysctl -w net.ipv4.ip_forward=1, and persist it in /etc/sysctl.d/ (kubelet and"
                  + " most CNIs expect it set at boot)."));
    }
    return out;
  }
}
