package dev.svcproxy.source;

import dev.svcproxy.model.Cidr;
import dev.svcproxy.model.EndpointSlice;
import dev.svcproxy.model.Service;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The objects read from manifests, and the problems met. {@code unreadable} is true when some
 * document could not be read at all (syntax, encoding, size), the sign of a file caught while being
 * written.
 */
public record ManifestSet(List<Item> items, List<ManifestProblem> problems, boolean unreadable) {
  public ManifestSet {
    items = List.copyOf(items);
    problems = List.copyOf(problems);
  }

  /**
   * One object of a manifest (a Service, an EndpointSlice, an Endpoints converted to slices, or a
   * ServiceCIDR's prefixes) and the place it came from.
   */
  public record Item(
      String kind,
      String namespace,
      String name,
      String file,
      int document,
      List<Service> services,
      List<EndpointSlice> slices,
      List<Cidr> serviceCidrs) {
    public Item {
      services = List.copyOf(services);
      slices = List.copyOf(slices);
      serviceCidrs = List.copyOf(serviceCidrs);
    }

    /** A Service or EndpointSlice item. */
    public Item(
        String kind,
        String namespace,
        String name,
        String file,
        int document,
        List<Service> services,
        List<EndpointSlice> slices) {
      this(kind, namespace, name, file, document, services, slices, List.of());
    }

    String key() {
      return kind + "/" + namespace + "/" + name;
    }

    String place() {
      return Printable.escape(file) + ": document " + document;
    }
  }

  public List<Service> services() {
    return items.stream().flatMap(i -> i.services().stream()).toList();
  }

  public List<EndpointSlice> slices() {
    return items.stream().flatMap(i -> i.slices().stream()).toList();
  }

  /** The prefixes of every ServiceCIDR object, in file order. */
  public List<Cidr> serviceCidrs() {
    return items.stream().flatMap(i -> i.serviceCidrs().stream()).toList();
  }

  /**
   * Keeps the first of objects with the same kind, namespace and name (items are in file order,
   * then document order, so the winner does not depend on timing) and reports each later one with
   * both places.
   */
  static List<Item> firstOfEach(List<Item> items, List<ManifestProblem> problems) {
    Map<String, Item> seen = new HashMap<>();
    List<Item> out = new ArrayList<>();
    for (Item i : items) {
      Item first = seen.putIfAbsent(i.key(), i);
      if (first == null) {
        out.add(i);
        continue;
      }
      problems.add(
          new ManifestProblem(
              i.file(),
              i.document(),
              i.kind()
                  + " "
                  + i.namespace()
                  + "/"
                  + i.name()
                  + ": duplicate of the one at "
                  + first.place()
                  + ", which is used; this one is ignored"));
    }
    return out;
  }
}
