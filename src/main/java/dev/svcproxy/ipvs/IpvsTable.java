package dev.svcproxy.ipvs;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The IPVS service table of one network namespace (or what a proxier wants it to be). */
public record IpvsTable(List<IpvsService> services) {
  public IpvsTable {
    services = List.copyOf(services);
  }

  public static IpvsTable empty() {
    return new IpvsTable(List.of());
  }

  /** Services by {@link VirtualServer#key()}, in table order. */
  public Map<String, IpvsService> byKey() {
    Map<String, IpvsService> m = new LinkedHashMap<>();
    services.forEach(s -> m.put(s.server().key(), s));
    return m;
  }

  public Optional<IpvsService> find(VirtualServer.Kind kind, String address, int port) {
    return services.stream()
        .filter(
            s ->
                s.server().kind() == kind
                    && s.server().address().equals(address)
                    && s.server().port() == port)
        .findFirst();
  }
}
