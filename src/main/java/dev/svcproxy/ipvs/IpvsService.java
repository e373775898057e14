package dev.svcproxy.ipvs;

import java.util.List;
import java.util.Objects;

/** A virtual server and its real servers, in the order the kernel lists them. */
public record IpvsService(VirtualServer server, List<RealServer> reals) {
  public IpvsService {
    Objects.requireNonNull(server);
    reals = List.copyOf(reals);
  }
}
