package dev.svcproxy.nftables.ruleset;

import java.util.ArrayList;
import java.util.List;

/** Prints rules and expressions of a read ruleset in nft's own syntax, for trace steps. */
public final class NftPrinter {
  private NftPrinter() {}

  /** The rule as `nft list` prints it, with its comment. */
  public static String rule(Ruleset.Rule r) {
    List<String> parts = new ArrayList<>();
    for (Stmt s : r.statements()) {
      parts.add(stmt(s));
    }
    if (r.comment() != null) {
      parts.add("comment \"" + r.comment() + "\"");
    }
    return String.join(" ", parts);
  }

  public static String stmt(Stmt s) {
    return switch (s) {
      case Stmt.Match m -> {
        // nft leaves "==" out, except after a bitwise expression ("mark and 0x4000 == 0").
        String op =
            switch (m.op()) {
              case "==" -> m.left() instanceof Expr.Binary ? "== " : "";
              case "in" -> "";
              default -> m.op() + " ";
            };
        yield expr(m.left()) + " " + op + expr(m.right());
      }
      case Stmt.Verdict v -> v.target() == null ? v.kind() : v.kind() + " " + v.target();
      case Stmt.VerdictMap v -> expr(v.key()) + " vmap " + expr(v.data());
      case Stmt.Mangle m -> expr(m.key()) + " set " + expr(m.value());
      case Stmt.Nat n -> {
        StringBuilder b = new StringBuilder(n.kind());
        if (n.addr() != null || n.port() != null) {
          b.append(" to ");
          if (n.addr() != null) {
            b.append(expr(n.addr()));
          }
          if (n.port() != null) {
            b.append(':').append(expr(n.port()));
          }
        }
        n.flags().forEach(f -> b.append(' ').append(f));
        yield b.toString();
      }
      case Stmt.Reject r ->
          "reject"
              + (r.type() == null ? "" : " with " + r.type())
              + (r.code() == null ? "" : " " + r.code());
      case Stmt.Passive p -> p.kind();
      case Stmt.Notrack n -> "notrack";
      case Stmt.SetUpdate u -> u.op() + " @" + u.set() + " { " + expr(u.elem()) + " }";
      case Stmt.Unknown u -> u.json();
    };
  }

  public static String expr(Expr e) {
    return switch (e) {
      case Expr.Literal l -> l.toString();
      case Expr.Flags f -> String.join(",", f.values());
      case Expr.Payload p -> p.protocol() + " " + p.field();
      case Expr.Meta m -> "meta " + m.key();
      case Expr.Ct c -> "ct " + (c.dir() == null ? "" : c.dir() + " ") + c.key();
      case Expr.Fib f -> "fib " + String.join(" . ", f.flags()) + " " + f.result();
      case Expr.Numgen n ->
          "numgen "
              + n.mode()
              + " mod "
              + n.mod()
              + (n.offset() == 0 ? "" : " offset " + n.offset());
      case Expr.Concat c -> String.join(" . ", c.parts().stream().map(NftPrinter::expr).toList());
      case Expr.Prefix p -> p.addr() + "/" + p.len();
      case Expr.Range r -> expr(r.lo()) + "-" + expr(r.hi());
      case Expr.SetRef r -> "@" + r.name();
      case Expr.AnonSet s -> {
        List<String> els = new ArrayList<>();
        for (Ruleset.Element el : s.elements()) {
          els.add(element(el));
        }
        yield "{ " + String.join(", ", els) + " }";
      }
      case Expr.Binary b ->
          expr(b.left())
              + " "
              + b.op()
              + " "
              + (b.right() instanceof Expr.Literal l && l.isNumber()
                  ? "0x" + Long.toHexString(l.number())
                  : expr(b.right()));
      case Expr.VerdictExpr v -> v.target() == null ? v.kind() : v.kind() + " " + v.target();
      case Expr.Unknown u -> u.json();
    };
  }

  /** One element: key, its comment, and its mapped value. */
  public static String element(Ruleset.Element el) {
    return expr(el.key())
        + (el.comment() == null ? "" : " comment \"" + el.comment() + "\"")
        + (el.value() == null ? "" : " : " + expr(el.value()));
  }
}
