package dev.svcproxy.doctor;

import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** How bad a finding is: ERROR breaks traffic, WARNING may, INFO explains expected behaviour. */
public enum Severity {
  ERROR,
  WARNING,
  INFO;

  /** The JSON and text spelling: lower case. */
  @JsonValue
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
