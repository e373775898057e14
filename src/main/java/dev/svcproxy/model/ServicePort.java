package dev.svcproxy.model;

/** One entry of a Service's spec.ports. */
public record ServicePort(String name, int port, Protocol protocol, int nodePort) {
  public ServicePort {
    name = name == null ? "" : name;
  }
}
