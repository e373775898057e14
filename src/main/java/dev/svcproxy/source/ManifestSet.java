package dev.svcproxy.source;

import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.Service;
import java.util.List;

/** The Services and EndpointSlices read from manifests, and the documents that were skipped. */
public record ManifestSet(
    List<Service> services, List<EndpointSlice> slices, List<ManifestProblem> problems) {
  public ManifestSet {
    services = List.copyOf(services);
    slices = List.copyOf(slices);
    problems = List.copyOf(problems);
  }
}
