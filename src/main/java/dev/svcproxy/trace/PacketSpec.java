package dev.svcproxy.trace;

/**
 * The packet to trace. A null {@code src} (or a src that is local) means "created on the node";
 * otherwise it arrives on {@code inIface}, or on the interface the node routes the source through.
 */
public record PacketSpec(
    String src, int sport, String dst, int dport, String proto, String inIface) {
  public PacketSpec {
    proto = proto == null ? "tcp" : proto;
    inIface = inIface == null ? "" : inIface;
  }
}
