package dev.svcproxy.doctor;

import dev.svcproxy.trace.TraceResult;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Runs every check over one node and gathers the findings into a report. */
public final class Doctor {
  private final List<Check> checks;

  public Doctor(List<Check> checks) {
    this.checks = List.copyOf(checks);
    Catalogue.of(this.checks); // fails on a duplicate id
  }

  /** The doctor with every check of the catalogue. */
  public static Doctor standard() {
    return new Doctor(Checks.all());
  }

  /**
   * Examines the node. A check that throws is a bug; it is reported as a warning so the other
   * checks still speak.
   */
  public DoctorReport examine(DoctorInput input) {
    DoctorContext ctx = new DoctorContext(input);
    List<Finding> findings = new ArrayList<>();
    Set<String> warnings = new LinkedHashSet<>(input.warnings());
    List<Check> ordered = new ArrayList<>(checks);
    ordered.sort(Comparator.comparing(Check::afterOthers));
    for (Check c : ordered) {
      Set<String> allowed = new java.util.HashSet<>();
      c.entries().forEach(e -> allowed.add(e.id()));
      try {
        for (Finding f : c.run(ctx)) {
          if (!allowed.contains(f.id())) {
            throw new IllegalStateException("reported " + f.id() + ", not among its entries");
          }
          if (!findings.contains(f)) {
            findings.add(f);
            ctx.report(f);
          }
        }
      } catch (RuntimeException e) {
        warnings.add(
            "check " + c.getClass().getSimpleName() + " failed (a bug; please report it): " + e);
      }
    }
    findings.sort(Comparator.comparing(Finding::severity));
    TraceResult trace = input.packet().map(ctx::trace).orElse(null);
    // What the bundle reader assumed for missing files comes first, then what the checks assumed.
    Set<String> assumedAll = new LinkedHashSet<>(input.node().notes());
    assumedAll.addAll(ctx.assumptions());
    if (trace != null) {
      // The tracer repeats the node's notes, and adds its own for what the packet lacks ("no
      // --in-iface: assumed ..."): assumptions, listed once. Warnings are problems with the input
      // (lines not read, prose, truncated tables) and rules the trace could not apply.
      for (String w : trace.warnings()) {
        if (!assumedAll.contains(w)) {
          (w.startsWith("no ") ? assumedAll : warnings).add(w);
        }
      }
    }
    List<String> assumed = List.copyOf(assumedAll);
    List<String> warned = List.copyOf(warnings);
    if (input.files().isLive()) {
      // A live node has no bundle files: name the commands whose output was missing or odd.
      assumed = assumed.stream().map(BundleFiles::inLiveWords).distinct().toList();
      warned = warned.stream().map(BundleFiles::inLiveWords).distinct().toList();
    }
    return new DoctorReport(findings, trace, warned, assumed, confidence(input, assumed));
  }

  private static DoctorReport.Confidence confidence(DoctorInput in, List<String> assumed) {
    if (in.node().interfaces().isEmpty() || in.node().routes().isEmpty()) {
      return DoctorReport.Confidence.LOW;
    }
    return assumed.isEmpty() ? DoctorReport.Confidence.HIGH : DoctorReport.Confidence.MEDIUM;
  }
}
