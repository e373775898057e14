package dev.svcproxy.seeds;

import dev.svcproxy.lab.Lab;
import dev.svcproxy.trace.PacketSpec;
import dev.svcproxy.trace.TraceFormatter;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.bundle.BundleCapture;
import dev.svcproxy.trace.bundle.BundleReader;
import dev.svcproxy.trace.engine.Tracer;

/** The tracer's view of a lab node: its state captured as a bundle, then one packet traced. */
final class NodeTraces {
  private NodeTraces() {}

  /** Traces a TCP packet to {@code dst:port} from {@code src} (null: created on the node). */
  static TraceResult trace(Lab lab, String netns, String src, String dst, int port) {
    var bundle = BundleReader.fromFiles(BundleCapture.capture(lab.runner().inNetns(netns)));
    TraceResult r = new Tracer(bundle).trace(new PacketSpec(src, 40000, dst, port, "tcp", null));
    // Printed so that a failing run shows what the tracer said beside what the kernel did.
    System.out.println(TraceFormatter.text(r));
    return r;
  }
}
