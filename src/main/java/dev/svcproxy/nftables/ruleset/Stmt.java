package dev.svcproxy.nftables.ruleset;

/** An nftables statement (libnftables-json(5) STATEMENTS): one step of a rule. */
public sealed interface Stmt {
  /** A comparison; op is "==", "!=", "<", ">", "<=", ">=" or "in". */
  record Match(String op, Expr left, Expr right) implements Stmt {}

  /** accept, drop, continue, return, or jump/goto with a target chain (null otherwise). */
  record Verdict(String kind, String target) implements Stmt {}

  /** {@code KEY vmap DATA}: DATA a named map ({@link Expr.SetRef}) or an inline one. */
  record VerdictMap(Expr key, Expr data) implements Stmt {}

  /** {@code meta mark set VALUE}, {@code ct mark set VALUE}: key is the field set. */
  record Mangle(Expr key, Expr value) implements Stmt {}

  /**
   * snat, dnat, masquerade or redirect; addr and port null when not given; flags such as
   * "fully-random", "random", "persistent".
   */
  record Nat(String kind, Expr addr, Expr port, java.util.List<String> flags) implements Stmt {
    public Nat {
      flags = java.util.List.copyOf(flags);
    }
  }

  /** reject, with its type ("icmp", "tcp reset", ...) and code, either may be null. */
  record Reject(String type, String code) implements Stmt {}

  /** counter, log, limit, quota and the like: they do not change the packet's path here. */
  record Passive(String kind, String json) implements Stmt {}

  /** notrack: the packet is not tracked. */
  record Notrack() implements Stmt {}

  /** {@code add/update @set { ELEM }}: a dynamic set learns the packet's key. */
  record SetUpdate(String op, Expr elem, String set) implements Stmt {}

  /** A statement the tracer does not model, kept as JSON: its rule is "not evaluated". */
  record Unknown(String kind, String json) implements Stmt {}
}
