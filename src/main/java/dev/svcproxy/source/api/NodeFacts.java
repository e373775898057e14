package dev.svcproxy.source.api;

import dev.svcproxy.source.NodeInfo;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node facts `run` takes from its Node when no flag gives them: the node IP, the pod CIDR for
 * --detect-local-mode NodeCIDR, and the zone. Null means "not found; keep the flag's default".
 */
public record NodeFacts(String nodeIp, String podCidr, String zone) {
  private static final Logger LOG = LoggerFactory.getLogger(NodeFacts.class);

  /**
   * How long to wait for the Node for its IP and zone: upstream's getNodeIPs retries a Get with
   * backoff 1 s x2, 6 steps (about 30 s), then carries on without them.
   */
  public static final Duration NODE_WAIT = Duration.ofSeconds(30);

  /**
   * How long to wait for the pod CIDR: upstream's timeoutForNodePodCIDR (5 min) in waitForPodCIDR,
   * after which kube-proxy exits; the allocator may set it after the Node registers.
   */
  public static final Duration POD_CIDR_WAIT = Duration.ofMinutes(5);

  /** Waits for what is needed, with upstream's bounds; fails when the pod CIDR never comes. */
  public static NodeFacts await(
      ApiSource api,
      String nodeName,
      boolean needIp,
      boolean needPodCidr,
      boolean needZone,
      Duration nodeWait,
      Duration podCidrWait)
      throws InterruptedException {
    String podCidr = null;
    if (needPodCidr) {
      LOG.info("waiting for Node {} to have a pod CIDR (--detect-local-mode NodeCIDR)", nodeName);
      Optional<NodeInfo> n = api.awaitNode(i -> i.podCidrIpv4().isPresent(), podCidrWait);
      podCidr =
          n.flatMap(NodeInfo::podCidrIpv4)
              .orElseThrow(
                  () ->
                      new IllegalStateException(
                          "timed out after "
                              + podCidrWait.toSeconds()
                              + " s waiting for Node "
                              + nodeName
                              + " to have spec.podCIDRs (--detect-local-mode NodeCIDR); pass"
                              + " --node-pod-cidr or check the Node"));
    }
    String ip = null;
    String zone = null;
    if (needIp || needZone) {
      Optional<NodeInfo> n = api.awaitNode(i -> true, nodeWait);
      if (n.isEmpty()) {
        LOG.warn(
            "Node {} not found within {} s; using {}",
            nodeName,
            nodeWait.toSeconds(),
            needIp ? "this host's first address as the node IP (--node-ip sets it)" : "no zone");
      }
      if (needIp) {
        ip = n.flatMap(NodeInfo::primaryIp).orElse(null);
        if (n.isPresent() && ip == null) {
          LOG.warn(
              "Node {} has no IPv4 InternalIP/ExternalIP; using this host's first address",
              nodeName);
        }
      }
      if (needZone) {
        zone = n.map(NodeInfo::zone).filter(z -> !z.isEmpty()).orElse(null);
      }
    }
    if (ip != null) {
      LOG.info("node IP {} from Node {} status.addresses", ip, nodeName);
    }
    return new NodeFacts(ip, podCidr, zone);
  }
}
