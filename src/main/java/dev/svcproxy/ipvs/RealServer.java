package dev.svcproxy.ipvs;

import dev.svcproxy.netfilter.SafeText;
import java.util.Objects;

/**
 * One real server of a virtual server.
 *
 * @param upperThreshold "-x", 0 for none
 * @param lowerThreshold "-y", 0 for none
 */
public record RealServer(
    String address,
    int port,
    ForwardMethod method,
    int weight,
    int upperThreshold,
    int lowerThreshold) {

  /** How IPVS sends a packet to the real server. */
  public enum ForwardMethod {
    /** "-m": NAT (kube-proxy's only method). */
    MASQ("-m", "Masq"),
    /** "-g": direct routing. */
    ROUTE("-g", "Route"),
    /** "-i": IP-in-IP tunnel. */
    TUNNEL("-i", "Tunnel");

    private final String option;
    private final String listing;

    ForwardMethod(String option, String listing) {
      this.option = option;
      this.listing = listing;
    }

    /** The ipvsadm option. */
    public String option() {
      return option;
    }

    /** The word `ipvsadm -Ln` prints in its Forward column. */
    public String listing() {
      return listing;
    }
  }

  public RealServer {
    address = SafeText.name("real server address", address);
    Objects.requireNonNull(method);
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("real server port " + port + " out of range");
    }
    if (weight < 0) {
      throw new IllegalArgumentException("negative weight " + weight);
    }
  }

  /** A masquerading real server with {@code weight} and no thresholds (kube-proxy's kind). */
  public static RealServer masq(String address, int port, int weight) {
    return new RealServer(address, port, ForwardMethod.MASQ, weight, 0, 0);
  }

  public RealServer withWeight(int w) {
    return new RealServer(address, port, method, w, upperThreshold, lowerThreshold);
  }

  /** "10.244.1.5:8080". */
  public String target() {
    return address + ":" + port;
  }
}
