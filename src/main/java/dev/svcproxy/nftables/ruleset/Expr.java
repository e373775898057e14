package dev.svcproxy.nftables.ruleset;

import java.util.List;

/** An nftables expression (libnftables-json(5) EXPRESSIONS): what a statement reads or compares. */
public sealed interface Expr {
  /** A constant: an address, a symbol ("tcp", "new", "local") or a number. */
  record Literal(String text, Long number) implements Expr {
    public static Literal of(String s) {
      return new Literal(s, null);
    }

    public static Literal of(long n) {
      return new Literal(null, n);
    }

    public boolean isNumber() {
      return number != null;
    }

    @Override
    public String toString() {
      return number != null ? Long.toString(number) : text;
    }
  }

  /** Several constants at once, as a flag list ({@code ct state established,related}). */
  record Flags(List<String> values) implements Expr {
    public Flags {
      values = List.copyOf(values);
    }
  }

  /** A header field: {@code ip saddr}, {@code th dport}, {@code tcp dport}. */
  record Payload(String protocol, String field) implements Expr {}

  /** Packet metadata: {@code meta l4proto}, {@code meta mark}, {@code meta iifname}. */
  record Meta(String key) implements Expr {}

  /** Conntrack data: {@code ct state}, {@code ct status}, {@code ct mark}; dir may be null. */
  record Ct(String key, String dir) implements Expr {}

  /** A FIB lookup: {@code fib saddr type}; {@code flags} like ["saddr"] or ["daddr", "iif"]. */
  record Fib(String result, List<String> flags) implements Expr {
    public Fib {
      flags = List.copyOf(flags);
    }
  }

  /** {@code numgen random mod N offset O} (mode "random" or "inc"). */
  record Numgen(String mode, long mod, long offset) implements Expr {}

  /** A concatenation {@code a . b . c}. */
  record Concat(List<Expr> parts) implements Expr {
    public Concat {
      parts = List.copyOf(parts);
    }
  }

  /** An address prefix {@code 10.0.0.0/8}. */
  record Prefix(String addr, int len) implements Expr {}

  /** A range {@code lo-hi}. */
  record Range(Expr lo, Expr hi) implements Expr {}

  /** A reference to a named set or map: {@code @name}. */
  record SetRef(String name) implements Expr {}

  /** An anonymous set or map written inline: {@code { a, b }} or {@code { k : v, ... }}. */
  record AnonSet(List<Ruleset.Element> elements) implements Expr {
    public AnonSet {
      elements = List.copyOf(elements);
    }
  }

  /** A binary operation ({@code &}, {@code |}, {@code ^}, {@code <<}, {@code >>}). */
  record Binary(String op, Expr left, Expr right) implements Expr {}

  /** A verdict as a map's data: accept, drop, continue, return, jump/goto a chain. */
  record VerdictExpr(String kind, String target) implements Expr {}

  /** Anything else, kept as its JSON text; what uses it is not evaluated. */
  record Unknown(String kind, String json) implements Expr {}
}
