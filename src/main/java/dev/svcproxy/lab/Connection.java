package dev.svcproxy.lab;

import dev.svcproxy.kernel.CommandResult;

/** What a TCP connection attempt in the lab got: a reply line, a refusal or a timeout. */
public record Connection(Outcome outcome, String backend, String peer, String detail) {

  /** The three ways a connection attempt ends. */
  public enum Outcome {
    REPLIED,
    REFUSED,
    TIMED_OUT,
    FAILED
  }

  static Connection of(CommandResult r) {
    String out = r.stdout().strip();
    if (r.ok() && !out.isEmpty()) {
      String[] f = out.lines().findFirst().orElse("").split("\\s+");
      return new Connection(Outcome.REPLIED, f[0], f.length > 1 ? f[1] : "", out);
    }
    String err = r.stderr();
    if (err.contains("Connection refused")) {
      return new Connection(Outcome.REFUSED, "", "", err.strip());
    }
    if (err.contains("timed out") || err.contains("Connection timed out") || r.exitCode() == 124) {
      return new Connection(Outcome.TIMED_OUT, "", "", err.strip());
    }
    return new Connection(Outcome.FAILED, "", "", (out + " " + err).strip());
  }

  @Override
  public String toString() {
    return switch (outcome) {
      case REPLIED -> "reached " + backend + ", which saw the client as " + peer;
      case REFUSED -> "refused";
      case TIMED_OUT -> "timed out (dropped)";
      case FAILED -> "failed: " + detail;
    };
  }
}
