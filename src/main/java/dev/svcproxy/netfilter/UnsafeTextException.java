package dev.svcproxy.netfilter;

/**
 * A value refused before it could become iptables-restore text or an iptables argument: it holds a
 * character that would end the line or split the token (a manifest must never become a rule it did
 * not ask for). The message names the field and shows the value with that character escaped.
 */
public final class UnsafeTextException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  /** What the value was (such as "chain name" or "value of --comment"). */
  private final String field;

  /** The refused value, unescaped. */
  private final transient String value;

  /** Refuses {@code value} of {@code field} for {@code reason}. */
  public UnsafeTextException(String field, String value, String reason) {
    super("refused " + field + " " + SafeText.quote(value) + ": " + reason);
    this.field = field;
    this.value = value;
  }

  public String field() {
    return field;
  }

  public String value() {
    return value;
  }
}
