package dev.svcproxy.model;

/** externalTrafficPolicy / internalTrafficPolicy. */
public enum TrafficPolicy {
  CLUSTER,
  LOCAL;

  /** Parses the API value; empty means Cluster. */
  public static TrafficPolicy parse(String value) {
    if (value == null || value.isEmpty() || value.equals("Cluster")) {
      return CLUSTER;
    }
    if (value.equals("Local")) {
      return LOCAL;
    }
    throw new IllegalArgumentException("unknown traffic policy \"" + value + "\"");
  }
}
