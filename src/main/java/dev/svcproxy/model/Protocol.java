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
