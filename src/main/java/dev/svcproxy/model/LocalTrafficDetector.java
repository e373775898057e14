package dev.svcproxy.model;

/**
 * How a proxy tells pod traffic from other traffic (--detect-local-mode): by source CIDR, by input
 * bridge, or by input interface name prefix. An unimplemented detector (ClusterCIDR mode without a
 * CIDR) matches nothing, as upstream's NoOp detector.
 */
public record LocalTrafficDetector(Mode mode, String value) {

  /** --detect-local-mode values. */
  public enum Mode {
    CLUSTER_CIDR("ClusterCIDR"),
    NODE_CIDR("NodeCIDR"),
    BRIDGE_INTERFACE("BridgeInterface"),
    INTERFACE_NAME_PREFIX("InterfaceNamePrefix");

    private final String flagValue;

    Mode(String flagValue) {
      this.flagValue = flagValue;
    }

    public String flagValue() {
      return flagValue;
    }

    public static Mode parse(String s) {
      for (Mode m : values()) {
        if (m.flagValue.equals(s)) {
          return m;
        }
      }
      throw new IllegalArgumentException(
          "unknown --detect-local-mode \""
              + s
              + "\" (ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix)");
    }
  }

  public LocalTrafficDetector {
    value = value == null ? "" : value;
  }

  public static LocalTrafficDetector none() {
    return new LocalTrafficDetector(Mode.CLUSTER_CIDR, "");
  }

  public boolean isImplemented() {
    return !value.isEmpty();
  }

  public boolean bySource() {
    return mode == Mode.CLUSTER_CIDR || mode == Mode.NODE_CIDR;
  }
}
