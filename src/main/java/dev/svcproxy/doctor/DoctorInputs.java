package dev.svcproxy.doctor;

import dev.svcproxy.kernel.CommandRunner;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.snapshot.ProxyStateBuilder;
import dev.svcproxy.source.ManifestParser;
import dev.svcproxy.source.ManifestProblem;
import dev.svcproxy.source.ManifestSet;
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
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
    Map<String, String> known = new TreeMap<>();
    List<PastedInput.Source> other = new ArrayList<>();
    b.files()
        .forEach(
            (name, text) -> {
              if (BundleReader.isBundleFile(name)) {
                known.put(name, text);
              } else {
                // A file under any other name (issue.txt, nat.txt): read as pasted output.
                other.add(new PastedInput.Source(dir.resolve(name).toString(), text));
              }
            });
    if (other.isEmpty()) {
      return assemble(b.node(), BundleFiles.bundle(b.files()), objects);
    }
    other.sort(java.util.Comparator.comparing(PastedInput.Source::name));
    DoctorInput in = pasted(known, other, objects, Optional.empty());
    // What reading the directory found (empty or unreadable files) is not in the re-read files.
    List<String> all = new ArrayList<>(b.fileWarnings());
    all.addAll(in.warnings());
    return new DoctorInput(in.node(), in.files(), in.facts(), in.cluster(), in.packet(), all);
  }

  /**
   * Output pasted by a person ({@code doctor --paste}), each source split into the blocks of the
   * commands it shows; the cluster's objects from {@code manifests}, else from the pasted kubectl
   * output.
   */
  public static DoctorInput paste(List<PastedInput.Source> sources, Optional<Path> manifests) {
    return pasted(Map.of(), sources, manifests, Optional.empty());
  }

  /** Largest pasted text read (a paste is a few screens; a bundle file is read from disk). */
  public static final long MAX_PASTE_BYTES = 64L * 1024 * 1024;

  /**
   * The text of a pasted file ({@code -}: standard input), decoded leniently: malformed bytes
   * become U+FFFD, which the doctor then names with their line.
   */
  public static PastedInput.Source readPaste(String name, java.io.InputStream in)
      throws java.io.IOException {
    byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, MAX_PASTE_BYTES + 1));
    if (bytes.length > MAX_PASTE_BYTES) {
      throw new IllegalArgumentException(
          "--paste " + name + ": larger than " + MAX_PASTE_BYTES + " bytes, not read");
    }
    String text =
        java.nio.charset.StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(java.nio.charset.CodingErrorAction.REPLACE)
            .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPLACE)
            .decode(java.nio.ByteBuffer.wrap(bytes))
            .toString();
    return new PastedInput.Source(name, text);
  }

  /** Control characters (but tab and line ends) replaced: as {@link BundleReader#sanitise}. */
  static String sanitise(String name, String text, List<String> warnings) {
    return BundleReader.sanitise(name, text, warnings);
  }

  private static final Pattern WHERE = Pattern.compile("^([^:\\s]+):(\\d+): (.*)$", Pattern.DOTALL);

  private static DoctorInput pasted(
      Map<String, String> known,
      List<PastedInput.Source> sources,
      Optional<Path> manifests,
      Optional<ProxyState> api) {
    List<String> warnings = new ArrayList<>();
    List<String> notes = new ArrayList<>();
    List<PastedInput.Source> clean = new ArrayList<>();
    for (PastedInput.Source s : sources) {
      clean.add(new PastedInput.Source(s.name(), sanitise(s.name(), s.text(), warnings)));
    }
    PastedInput.Split split = PastedInput.split(clean);
    warnings.addAll(split.unrecognised());
    Map<String, String> files = new TreeMap<>(known);
    Map<String, List<String>> origins = new TreeMap<>();
    for (Map.Entry<String, List<PastedInput.Block>> e :
        PastedInput.byFile(split.blocks()).entrySet()) {
      String file = e.getKey();
      List<String> lines = new ArrayList<>();
      List<String> where = new ArrayList<>();
      if (known.containsKey(file)) {
        String[] k = known.get(file).split("\n", -1);
        for (int i = 0; i < k.length; i++) {
          lines.add(k[i]);
          where.add(file + ":" + (i + 1));
        }
        notes.add(file + " and pasted output of the same command were read together");
      }
      for (PastedInput.Block b : e.getValue()) {
        if (!lines.isEmpty()) {
          lines.add("");
          where.add(null);
        }
        if (b.kind() == PastedInput.Kind.IPVS && headless(b)) {
          // An `ipvsadm -Ln` listing pasted without its header lines: the reader needs them.
          lines.add("Prot LocalAddress:Port Scheduler Flags");
          where.add(null);
        }
        for (int i = 0; i < b.lines().size(); i++) {
          lines.add(b.lines().get(i));
          where.add(b.source() + ":" + b.numbers().get(i));
        }
        notes.add(
            b.source()
                + ":"
                + b.numbers().get(0)
                + "-"
                + b.numbers().get(b.numbers().size() - 1)
                + ": read as pasted `"
                + b.kind().form()
                + "` output ("
                + file
                + "); what it does not show is assumed absent");
      }
      files.put(file, String.join("\n", lines));
      origins.put(file, where);
    }
    NodeState node = BundleReader.fromFiles(files);
    for (String w : node.warnings()) {
      warnings.add(relocate(w, origins));
    }
    Optional<ProxyState> cluster = api;
    if (cluster.isEmpty() && manifests.isEmpty()) {
      cluster = pastedObjects(split.blocks(), warnings, notes);
    }
    notes.addAll(node.notes());
    NodeState withNotes =
        new NodeState(
            node.interfaces(),
            node.routes(),
            node.rules(),
            node.sysctls(),
            node.iptables(),
            node.ipsets(),
            node.conntrack(),
            node.recent(),
            List.of(),
            notes,
            node.ipvs(),
            node.ipvsConnections(),
            node.nftables());
    DoctorInput in = assemble(withNotes, BundleFiles.pasted(files, origins), manifests);
    List<String> all = new ArrayList<>(warnings);
    all.addAll(in.warnings());
    return new DoctorInput(
        in.node(),
        in.files(),
        in.facts(),
        cluster.isPresent() ? cluster : in.cluster(),
        in.packet(),
        all);
  }

  /** Whether an IPVS block starts with a virtual server line, no header nor -A line before it. */
  private static boolean headless(PastedInput.Block b) {
    for (String l : b.lines()) {
      if (l.isBlank() || dev.svcproxy.trace.bundle.Prompts.command(l) != null) {
        continue;
      }
      return PastedInput.IPVS_SERVICE.matcher(l.strip()).matches();
    }
    return false;
  }

  /** "iptables-save.txt:12: ..." of a file assembled from pastes: cite the pasted line instead. */
  private static String relocate(String warning, Map<String, List<String>> origins) {
    Matcher m = WHERE.matcher(warning);
    if (!m.matches() || !origins.containsKey(m.group(1))) {
      return warning;
    }
    List<String> o = origins.get(m.group(1));
    int line = Integer.parseInt(m.group(2));
    if (line < 1 || line > o.size() || o.get(line - 1) == null) {
      return warning;
    }
    return o.get(line - 1) + ": " + m.group(3);
  }

  /** The Services and EndpointSlices of pasted kubectl output (YAML/JSON documents and tables). */
  private static Optional<ProxyState> pastedObjects(
      List<PastedInput.Block> blocks, List<String> warnings, List<String> notes) {
    ManifestParser parser = new ManifestParser();
    List<dev.svcproxy.model.Service> services = new ArrayList<>();
    List<dev.svcproxy.model.EndpointSlice> slices = new ArrayList<>();
    List<dev.svcproxy.model.Cidr> cidrs = new ArrayList<>();
    List<PastedInput.Block> tables = new ArrayList<>();
    boolean any = false;
    for (PastedInput.Block b : blocks) {
      if (b.kind() == PastedInput.Kind.KUBE_TABLE) {
        tables.add(b);
      } else if (b.kind() == PastedInput.Kind.KUBE_OBJECTS) {
        any = true;
        // Blank lines stand for the lines before the block, so a problem's document and the
        // parser's line numbers match the pasted text.
        StringBuilder text = new StringBuilder();
        int line = 1;
        for (int i = 0; i < b.lines().size(); i++) {
          int n = b.numbers().get(i);
          while (line < n) {
            text.append('\n');
            line++;
          }
          String l = b.lines().get(i);
          text.append(dev.svcproxy.trace.bundle.Prompts.command(l) != null ? "" : l);
        }
        ManifestSet set = parser.parse(b.source(), text.toString());
        set.problems().forEach(p -> warnings.add(p.toString()));
        services.addAll(set.services());
        slices.addAll(set.slices());
        cidrs.addAll(set.serviceCidrs());
      }
    }
    if (!tables.isEmpty()) {
      any = true;
      KubectlTable.Result r = KubectlTable.read(tables);
      warnings.addAll(r.warnings());
      notes.addAll(r.assumptions());
      ManifestSet set = parser.parse("kubectl tables", r.json());
      set.problems().forEach(p -> warnings.add(p.toString()));
      services.addAll(set.services());
      slices.addAll(set.slices());
    }
    if (!any) {
      return Optional.empty();
    }
    return Optional.of(ProxyStateBuilder.build(services, slices).withServiceCidrs(cidrs));
  }

  /** The live node (or network namespace) behind {@code runner}, captured now. */
  public static DoctorInput live(CommandRunner runner, Optional<Path> manifests) {
    Map<String, String> files = BundleCapture.capture(runner);
    return assemble(BundleReader.fromFiles(files), BundleFiles.live(files), manifests);
  }

  /**
   * One snapshot of the cluster's Services and EndpointSlices from the API server of {@code
   * kubeconfig} (the source `run --kubeconfig` watches), waiting at most {@code timeout} for the
   * first full list.
   */
  public static ProxyState apiSnapshot(Path kubeconfig, String nodeName, java.time.Duration timeout)
      throws InterruptedException {
    io.fabric8.kubernetes.client.Config config =
        dev.svcproxy.source.api.ApiClientConfig.choose(
                null,
                kubeconfig,
                null,
                dev.svcproxy.source.api.ApiClientConfig.SERVICE_ACCOUNT,
                Map.of())
            .orElseThrow();
    java.util.concurrent.CompletableFuture<ProxyState> first =
        new java.util.concurrent.CompletableFuture<>();
    try (io.fabric8.kubernetes.client.KubernetesClient client =
            dev.svcproxy.source.api.ApiClientConfig.client(config);
        dev.svcproxy.source.api.ApiSource src =
            dev.svcproxy.source.api.ApiSource.start(
                client, nodeName, java.time.Duration.ofMinutes(15))) {
      src.watch(first::complete);
      try {
        return first.get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        throw new IllegalArgumentException(
            "--kubeconfig "
                + kubeconfig
                + ": no list of Services and EndpointSlices from the API server within "
                + timeout.toSeconds()
                + " s (is it reachable, may this user list them?)");
      } catch (java.util.concurrent.ExecutionException e) {
        throw new IllegalStateException(e.getCause());
      }
    }
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
    facts = ProxyFlags.merge(facts, files);
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
