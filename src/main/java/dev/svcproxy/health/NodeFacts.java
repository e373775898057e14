package dev.svcproxy.health;

import java.util.Set;

/**
 * What /healthz needs of this node's Node object: whether it is being deleted and its taint keys.
 *
 * @param deleting the Node has a deletionTimestamp
 * @param taintKeys the keys of the Node's spec.taints
 */
public record NodeFacts(boolean deleting, Set<String> taintKeys) {
  /** The taint the Cluster Autoscaler puts on a node it is about to delete (upstream's name). */
  public static final String TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

  public NodeFacts {
    taintKeys = Set.copyOf(taintKeys);
  }

  /** A Node that is neither being deleted nor tainted. */
  public static NodeFacts plain() {
    return new NodeFacts(false, Set.of());
  }

  /** Upstream's NodeEligible for a known Node: not deleted, not tainted ToBeDeleted. */
  public boolean eligible() {
    return !deleting && !taintKeys.contains(TO_BE_DELETED_TAINT);
  }
}
