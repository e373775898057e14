package dev.svcproxy.nftables.text;

/** nftables text that cannot be read as a ruleset, with the place it went wrong. */
public final class NftTextException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  private final String file;
  private final int line;
  private final int column;

  /** A problem at {@code file:line:column} (1-based). */
  public NftTextException(String file, int line, int column, String problem) {
    super(file + ":" + line + ":" + column + ": " + problem);
    this.file = file;
    this.line = line;
    this.column = column;
  }

  public String file() {
    return file;
  }

  public int line() {
    return line;
  }

  public int column() {
    return column;
  }
}
