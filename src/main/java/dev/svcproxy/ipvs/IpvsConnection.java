package dev.svcproxy.ipvs;

/**
 * One entry of the IPVS connection table as `ipvsadm -Lnc` prints it. A persistence template (what
 * pins a client to a real server for a persistent service) has client port 0; for a fwmark service
 * its protocol is "IP" and its virtual address carries the mark (0.0.0.7 for mark 7).
 *
 * @param protocol "TCP", "UDP", "SCTP" or "IP" (a fwmark template), as ipvsadm prints it
 * @param expireSeconds seconds until the entry expires (the "mm:ss" column)
 * @param state the protocol state ("ESTABLISHED", "SYN_RECV", "TIME_WAIT", "NONE", "ASSURED", ...)
 */
public record IpvsConnection(
    String protocol,
    int expireSeconds,
    String state,
    String clientAddress,
    int clientPort,
    String virtualAddress,
    int virtualPort,
    String destinationAddress,
    int destinationPort) {

  /** A persistence template rather than a connection: no client port. */
  public boolean template() {
    return clientPort == 0;
  }

  /** "10.0.0.2:42610 -> 10.96.0.10:80 -> 10.244.1.10:8080". */
  public String describe() {
    return clientAddress
        + ":"
        + clientPort
        + " -> "
        + virtualAddress
        + ":"
        + virtualPort
        + " -> "
        + destinationAddress
        + ":"
        + destinationPort;
  }
}
