package dev.svcproxy.trace.engine;

/** The five netfilter IPv4 hooks a packet passes. */
public enum Hook {
  PREROUTING,
  INPUT,
  FORWARD,
  OUTPUT,
  POSTROUTING
}
