package dev.svcproxy.ipvs;

import dev.svcproxy.netfilter.SafeText;
import java.util.List;
import java.util.Objects;

/**
 * An IPVS virtual server as `ipvsadm -S -n` writes it: what it listens on (protocol, address, port,
 * or a firewall mark) and how it schedules.
 *
 * @param kind tcp, udp, sctp, or fwmark (address and port unused then)
 * @param address the virtual IP ("" for fwmark services)
 * @param fwmark the firewall mark of a fwmark service, 0 otherwise
 * @param scheduler "rr", "wrr", "sh", ... as the kernel names it
 * @param schedulerFlags "-b" flags (sh-fallback, sh-port, flag-1..3), in written order
 * @param persistenceTimeout seconds of persistence ("-p"), 0 when not persistent
 * @param persistenceNetmask "-M" netmask, "" for the default (255.255.255.255)
 * @param onePacket "-o": one-packet scheduling (UDP)
 */
public record VirtualServer(
    Kind kind,
    String address,
    int port,
    long fwmark,
    String scheduler,
    List<String> schedulerFlags,
    int persistenceTimeout,
    String persistenceNetmask,
    boolean onePacket) {

  /** What a virtual server is keyed on. */
  public enum Kind {
    TCP("-t"),
    UDP("-u"),
    SCTP("--sctp-service"),
    FWMARK("-f");

    private final String option;

    Kind(String option) {
      this.option = option;
    }

    /** The ipvsadm option that names a service of this kind. */
    public String option() {
      return option;
    }
  }

  public VirtualServer {
    Objects.requireNonNull(kind);
    address =
        address == null || address.isEmpty()
            ? ""
            : SafeText.name("virtual server address", address);
    scheduler = SafeText.name("scheduler of " + address + ":" + port, scheduler);
    schedulerFlags = List.copyOf(schedulerFlags);
    schedulerFlags.forEach(f -> SafeText.name("scheduler flag", f));
    persistenceNetmask =
        persistenceNetmask == null ? "" : SafeText.value("persistence netmask", persistenceNetmask);
    if (kind != Kind.FWMARK && (port < 0 || port > 65535)) {
      throw new IllegalArgumentException("virtual server port " + port + " out of range");
    }
    if (persistenceTimeout < 0) {
      throw new IllegalArgumentException("negative persistence timeout " + persistenceTimeout);
    }
  }

  /** A TCP/UDP/SCTP service with no persistence and no flags. */
  public static VirtualServer of(Kind kind, String address, int port, String scheduler) {
    return new VirtualServer(kind, address, port, 0, scheduler, List.of(), 0, "", false);
  }

  public VirtualServer withPersistence(int timeoutSeconds) {
    return new VirtualServer(
        kind,
        address,
        port,
        fwmark,
        scheduler,
        schedulerFlags,
        timeoutSeconds,
        persistenceNetmask,
        onePacket);
  }

  /** The identity the kernel keys services on: "TCP 10.96.0.1:443" or "FWM 7". */
  public String key() {
    return kind == Kind.FWMARK ? "FWM " + fwmark : kind.name() + " " + address + ":" + port;
  }

  /** "10.96.0.1:443" (or the mark), as ipvsadm names the service after its kind option. */
  public String target() {
    return kind == Kind.FWMARK ? Long.toString(fwmark) : address + ":" + port;
  }
}
