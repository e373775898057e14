package dev.svcproxy.model;

import java.util.Comparator;
import java.util.Objects;

/** Identifies one port of one Service, as upstream's ServicePortName. */
public record ServicePortName(String namespace, String name, String port, Protocol protocol)
    implements Comparable<ServicePortName> {

  private static final Comparator<ServicePortName> ORDER =
      Comparator.comparing(ServicePortName::namespace)
          .thenComparing(ServicePortName::name)
          .thenComparing(ServicePortName::port)
          .thenComparing(ServicePortName::protocol);

  public ServicePortName {
    Objects.requireNonNull(namespace);
    Objects.requireNonNull(name);
    port = port == null ? "" : port;
    Objects.requireNonNull(protocol);
  }

  /** "ns/name" */
  public String namespacedName() {
    return namespace + "/" + name;
  }

  /** "ns/name:port", or "ns/name" for an unnamed port: the string chain names hash. */
  @Override
  public String toString() {
    return port.isEmpty() ? namespacedName() : namespacedName() + ":" + port;
  }

  @Override
  public int compareTo(ServicePortName o) {
    return ORDER.compare(this, o);
  }
}
