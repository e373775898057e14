package dev.svcproxy.doctor.checks;

import dev.svcproxy.doctor.DoctorContext;
import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.Ip;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.ReasonCode;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Representative packets a pod of this node sends: to each Service's ClusterIP (when the cluster's
 * objects are known) and into each other node's pod network (host-gw routes), traced to see what
 * the node does with pod traffic.
 */
final class Probes {
  /** How many Service ports are probed at most: enough to speak, bounded for big clusters. */
  static final int MAX_SERVICES = 16;

  static final int SPORT = 40000;

  private Probes() {}

  /** One representative packet and what it stands for, in words. */
  record Probe(PacketSpec packet, String what) {
    /** The trace command that shows this packet's path. */
    String command() {
      return "svcproxy trace --src "
          + packet.src()
          + " --dst "
          + packet.dst()
          + ":"
          + packet.dport()
          + " --proto "
          + packet.proto();
    }
  }

  /** Pod-sourced probes to Services and to the other nodes' pod networks. */
  static List<Probe> fromPods(DoctorContext ctx) {
    List<Cidr> pods = NodeNetwork.podSubnets(ctx);
    if (pods.isEmpty()) {
      ctx.assume("no pod network known on this node (no node.yaml podCIDRs, no bridge with ports)");
      return List.of();
    }
    String src = NodeNetwork.probeHost(pods.get(0));
    List<Probe> out = new ArrayList<>();
    ctx.cluster()
        .ifPresent(
            st -> {
              int n = 0;
              for (ServicePortInfo sp : st.services().values()) {
                if (n >= MAX_SERVICES) {
                  break;
                }
                if (!Ip.isIpv4(sp.clusterIP()) || st.endpointsOf(sp.name()).isEmpty()) {
                  continue;
                }
                n++;
                out.add(
                    new Probe(
                        new PacketSpec(
                            src, SPORT, sp.clusterIP(), sp.port(), sp.protocol().lower(), null),
                        "pod "
                            + src
                            + " to Service "
                            + sp.name()
                            + " ("
                            + sp.clusterIP()
                            + ":"
                            + sp.port()
                            + ")"));
              }
            });
    for (NodeState.Route r : remotePodRoutes(ctx, pods)) {
      Cidr dst = Cidr.parseSloppy(r.dst());
      out.add(
          new Probe(
              new PacketSpec(src, SPORT, NodeNetwork.secondHost(dst), 80, "tcp", null),
              "pod " + src + " to a pod of " + r.dst() + " (via " + r.gateway() + ")"));
    }
    return out;
  }

  /**
   * Routes of the main table through a gateway to other pod networks (host-gw, as flannel and the
   * lab install them): within the cluster CIDR when known, else any non-default gatewayed route.
   */
  static List<NodeState.Route> remotePodRoutes(DoctorContext ctx, List<Cidr> pods) {
    List<Cidr> cluster = ctx.facts().clusterCidrs();
    List<NodeState.Route> out = new ArrayList<>();
    for (NodeState.Route r : ctx.node().routes()) {
      if (!(r.table().isEmpty() || r.table().equals("main"))
          || r.gateway() == null
          || r.gateway().isEmpty()
          || !r.dst().contains("/")
          || r.dst().equals("0.0.0.0/0")) {
        continue;
      }
      Cidr dst;
      try {
        dst = Cidr.parseSloppy(r.dst());
      } catch (IllegalArgumentException e) {
        continue;
      }
      if (dst.ipv6() || pods.stream().anyMatch(p -> NodeNetwork.overlaps(p, dst))) {
        continue;
      }
      if (!cluster.isEmpty() && cluster.stream().noneMatch(c -> NodeNetwork.covers(c, dst))) {
        continue;
      }
      out.add(r);
    }
    return out;
  }

  /** The step where a filter FORWARD policy DROP ended the path or its reply, if it did. */
  static Optional<Step> forwardPolicyDrop(Outcome o) {
    List<Step> steps = new ArrayList<>(o.steps());
    if (o.reply() != null) {
      steps.addAll(o.reply().steps());
    }
    return steps.stream()
        .filter(
            s ->
                s.kind() == StepKind.POLICY
                    && s.reasonCode() == ReasonCode.POLICY_DROP
                    && s.chain().equals("FORWARD")
                    && NodeNetwork.bareTable(s.table()).equals("filter"))
        .findFirst();
  }
}
