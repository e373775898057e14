package dev.svcproxy.doctor;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.source.ManifestProblem;
import dev.svcproxy.source.ManifestSource;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Builds the doctor's input from a bundle directory or a live node, plus the cluster's objects. */
public final class DoctorInputs {
  /** The optional file with the cluster's objects ({@code kubectl get ... -o json}). */
  public static final String CLUSTER_FILE = "cluster.json";

  private DoctorInputs() {}

  /**
   * A bundle directory; the cluster's objects from {@code manifests} when given, else from the
   * bundle's cluster.json when it has one.
   */
  public static DoctorInput bundle(Path dir, Optional<Path> manifests) {
    BundleReader.Bundle b = BundleReader.readBundle(dir);
    Optional<Path> objects =
        manifests.or(
            () ->
                Files.isRegularFile(dir.resolve(CLUSTER_FILE))
                    ? Optional.of(dir.resolve(CLUSTER_FILE))
                    : Optional.empty());
    return assemble(b.node(), BundleFiles.bundle(b.files()), objects);
  }

  /** The live node (or network namespace) behind {@code runner}, captured now. */
  public static DoctorInput live(CommandRunner runner, Optional<Path> manifests) {
    Map<String, String> files = ProxyProcessFacts.addTo(runner, BundleCapture.capture(runner));
    return assemble(BundleReader.fromFiles(files), BundleFiles.live(files), manifests);
  }

  /** Files given by name (tests, pasted input). */
  public static DoctorInput files(Map<String, String> files, Optional<Path> manifests) {
    return assemble(BundleReader.fromFiles(files), BundleFiles.bundle(files), manifests);
  }

  private static DoctorInput assemble(NodeState node, BundleFiles files, Optional<Path> objects) {
    List<String> warnings = new ArrayList<>(node.warnings());
    NodeFacts facts = NodeFacts.unknown();
    Optional<String> nodeYaml = files.text(NodeFacts.FILE);
    if (nodeYaml.isPresent()) {
      NodeFacts.Parsed p = NodeFacts.parse(nodeYaml.get());
      facts = p.facts();
      warnings.addAll(p.warnings());
    }
    facts = ProxyProcessFacts.merge(facts, files);
    Optional<ProxyState> cluster = Optional.empty();
    if (objects.isPresent()) {
      try (ManifestSource src = new ManifestSource(objects.get())) {
        ManifestSource.Snapshot snap = src.load();
        cluster = Optional.of(snap.state());
        for (ManifestProblem p : snap.problems()) {
          warnings.add(p.toString());
        }
      }
    }
    return new DoctorInput(node, files, facts, cluster, Optional.empty(), warnings);
  }
}
