package dev.svcproxy.doctor;

import dev.svcproxy.model.ProxyState;
import dev.svcproxy.trace.NodeState;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.engine.Tracer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a check sees: the input, a tracer over the node (each packet traced once, however many
 * checks ask), and where a check records what it had to assume for what the input lacks.
 */
public final class DoctorContext {
  private final DoctorInput input;
  private final Tracer tracer;
  private final Map<PacketSpec, TraceResult> traces = new HashMap<>();
  private final Set<String> assumptions = new LinkedHashSet<>();
  private final List<Finding> reported = new ArrayList<>();

  public DoctorContext(DoctorInput input) {
    this.input = input;
    this.tracer = new Tracer(input.node());
  }

  public DoctorInput input() {
    return input;
  }

  public NodeState node() {
    return input.node();
  }

  public BundleFiles files() {
    return input.files();
  }

  public NodeFacts facts() {
    return input.facts();
  }

  public Optional<ProxyState> cluster() {
    return input.cluster();
  }

  public Optional<PacketSpec> packet() {
    return input.packet();
  }

  /** The packet's trace, request and reply (traced once per distinct packet). */
  public TraceResult trace(PacketSpec p) {
    return traces.computeIfAbsent(p, tracer::trace);
  }

  /**
   * Records what was assumed for something the input lacks ("no conntrack.txt: no stale entries
   * checked"); the report lists each once and lowers its confidence.
   */
  public void assume(String what) {
    assumptions.add(what);
  }

  public List<String> assumptions() {
    return new ArrayList<>(assumptions);
  }

  /** Records a finding a check reported (the doctor does, as it gathers them). */
  void report(Finding f) {
    reported.add(f);
  }

  /** The findings reported so far by the checks that ran before this one. */
  public List<Finding> reported() {
    return List.copyOf(reported);
  }
}
