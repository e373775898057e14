package dev.svcproxy.doctor;

import java.util.List;

/**
 * One family of checks over a node. A check reads the node model, the traces and the cluster's
 * objects through the context; it never matches sentences of the tracer's text. A check that needs
 * something the input lacks says so with {@link DoctorContext#assume} and returns no finding rather
 * than guessing.
 */
public interface Check {
  /** The catalogue entries this check can report (and no others). */
  List<Catalogue.Entry> entries();

  /** The findings on this node. */
  List<Finding> run(DoctorContext ctx);

  /**
   * Whether this check runs after every other, seeing their findings ({@link
   * DoctorContext#reported()}): a check that explains what the others left unexplained.
   */
  default boolean afterOthers() {
    return false;
  }
}
