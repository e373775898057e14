package dev.svcproxy.config;

/** A KubeProxyConfiguration that cannot be used; the message names the field(s). */
public final class ConfigException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  /** An error with {@code message}. */
  public ConfigException(String message) {
    super(message);
  }
}
