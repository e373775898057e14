package dev.svcproxy.model;

import java.util.Locale;

/** A Service port protocol as Kubernetes spells it. */
public enum Protocol {
  TCP,
  UDP,
  SCTP;

  /** The lower-case name iptables uses ("tcp"). */
  public String lower() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The protocol with IANA number {@code n} (6, 17, 132); null for any other. */
  public static Protocol ofNumber(int n) {
    return switch (n) {
      case 6 -> TCP;
      case 17 -> UDP;
      case 132 -> SCTP;
      default -> null;
    };
  }

  /** Parses "TCP"/"tcp"; an empty or null value means TCP, as the API defaults it. */
  public static Protocol parse(String value) {
    if (value == null || value.isEmpty()) {
      return TCP;
    }
    try {
      return valueOf(value.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown protocol \"" + value + "\"");
    }
  }
}
