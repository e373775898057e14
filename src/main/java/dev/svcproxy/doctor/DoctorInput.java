package dev.svcproxy.doctor;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.PacketSpec;
import java.util.List;
import java.util.Optional;

/**
 * Everything the doctor examines: the node's kernel state and the files it came from, the facts of
 * node.yaml, the cluster's Services and EndpointSlices when given (manifests, cluster.json or the
 * API), and the packet to explain, if any. {@code warnings} say what could not be read.
 */
public record DoctorInput(
    NodeState node,
    BundleFiles files,
    NodeFacts facts,
    Optional<ProxyState> cluster,
    Optional<PacketSpec> packet,
    List<String> warnings) {
  public DoctorInput {
    warnings = List.copyOf(warnings);
  }

  public DoctorInput withPacket(PacketSpec p) {
    return new DoctorInput(node, files, facts, cluster, Optional.ofNullable(p), warnings);
  }

  public DoctorInput withCluster(ProxyState s) {
    return new DoctorInput(node, files, facts, Optional.ofNullable(s), packet, warnings);
  }
}
