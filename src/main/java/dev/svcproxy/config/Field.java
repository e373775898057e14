package dev.svcproxy.config;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * One leaf of KubeProxyConfiguration v1alpha1 (k8s.io/kube-proxy/config/v1alpha1/types.go).
 *
 * @param path the JSON path, e.g. iptables.masqueradeBit
 * @param type how the value is written
 * @param def the default (pkg/proxy/apis/config/v1alpha1/defaults.go), or the zero value
 * @param pointer a Go pointer field: only absent/null takes the default; otherwise a zero value
 *     does
 * @param omitEmpty Go's omitempty: an empty value is not written
 * @param flag the svcproxy flag it maps to, or null when svcproxy has none
 */
record Field(String path, Type type, Object def, boolean pointer, boolean omitEmpty, String flag) {
  /** The JSON shapes of the leaves. */
  enum Type {
    STRING,
    BOOL,
    INT32,
    FLOAT,
    DURATION,
    /** logsapi's TimeOrMetaDuration: a duration string or integer nanoseconds. */
    FLUSH,
    /** resource.QuantityValue: a string or a number. */
    QUANTITY,
    STRING_LIST,
    BOOL_MAP,
    /** logging.vmodule: a list of {filePattern, verbosity}, passed through. */
    ANY_LIST
  }

  /** Go's zero value of the type. */
  Object zero() {
    return switch (type) {
      case STRING, QUANTITY -> "";
      case BOOL -> false;
      case INT32 -> 0;
      case FLOAT -> 0.0;
      case DURATION, FLUSH -> Duration.ZERO;
      case STRING_LIST, ANY_LIST -> List.of();
      case BOOL_MAP -> Map.of();
    };
  }

  /** Whether {@code v} is Go's zero value (nil and empty collections included). */
  boolean isZero(Object v) {
    if (v == null) {
      return true;
    }
    if (v instanceof List<?> l) {
      return l.isEmpty();
    }
    if (v instanceof Map<?, ?> m) {
      return m.isEmpty();
    }
    if (v instanceof Double d) {
      return d == 0.0;
    }
    return v.equals(zero());
  }
}
