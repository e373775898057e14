package dev.svcproxy.trace;

/**
 * One thing that happened to the packet. When a rule is involved, {@code table} (prefixed "legacy "
 * for the iptables-legacy backend; "nft ip kube-proxy" for an nftables table), {@code chain},
 * {@code rule} (1-based; an nftables rule's handle; 0 for a chain's policy or end) and {@code text}
 * (the rule as iptables-save or nft prints it) reference it; {@code effect} says what it did.
 * {@code reasonCode} is set on the step that dropped or rejected the packet.
 */
public record Step(
    StepKind kind,
    String hook,
    String table,
    String chain,
    int rule,
    String text,
    String effect,
    ReasonCode reasonCode) {

  /** A rule step (no reason code). */
  public Step(
      StepKind kind,
      String hook,
      String table,
      String chain,
      int rule,
      String text,
      String effect) {
    this(kind, hook, table, chain, rule, text, effect, null);
  }

  /** A step with no rule behind it. */
  public static Step note(StepKind kind, String hook, String text) {
    return new Step(kind, hook, "", "", 0, text, "", null);
  }

  /** A step with no rule behind it that ended the path for {@code reason}. */
  public static Step note(StepKind kind, String hook, String text, ReasonCode reason) {
    return new Step(kind, hook, "", "", 0, text, "", reason);
  }

  /** This step with another effect and reason code. */
  public Step with(StepKind k, String newEffect, ReasonCode reason) {
    return new Step(k, hook, table, chain, rule, text, newEffect, reason);
  }
}
