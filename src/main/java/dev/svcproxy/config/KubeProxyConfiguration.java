package dev.svcproxy.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.svcproxy.model.Ip;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) with upstream's defaults filled in:
 * read strictly (an unknown field is an error naming it), validated as upstream's
 * pkg/proxy/apis/config/validation, overlaid with the flags given on the command line, and written
 * back as `--write-config-to` does.
 */
public final class KubeProxyConfiguration {
  /** The only apiVersion accepted. */
  public static final String API_VERSION = "kubeproxy.config.k8s.io/v1alpha1";

  /** The only kind accepted. */
  public static final String KIND = "KubeProxyConfiguration";

  private static final YAMLMapper READER =
      YAMLMapper.builder().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

  private static final YAMLMapper WRITER =
      new YAMLMapper(
          YAMLFactory.builder()
              .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
              .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
              .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
              .build());

  private final Map<String, Object> values;
  private final Set<String> given;
  private final List<String> warnings;

  private KubeProxyConfiguration(
      Map<String, Object> values, Set<String> given, List<String> warnings) {
    this.values = Collections.unmodifiableMap(new HashMap<>(values));
    this.given = Set.copyOf(given);
    this.warnings = List.copyOf(warnings);
  }

  /** Upstream's defaults (what an empty KubeProxyConfiguration defaults to). */
  public static KubeProxyConfiguration defaults() {
    Map<String, Object> v = new HashMap<>();
    for (Field f : Schema.FIELDS.values()) {
      v.put(f.path(), f.def());
    }
    return new KubeProxyConfiguration(v, Set.of(), List.of());
  }

  /** Reads {@code file}; errors name the file. */
  public static KubeProxyConfiguration read(Path file) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException("--config " + file + ": cannot read: " + e.getMessage());
    }
    try {
      return parse(text);
    } catch (ConfigException e) {
      throw new ConfigException("--config " + file + ": " + e.getMessage());
    }
  }

  /**
   * Decodes {@code text} (YAML or JSON) strictly and fills in the defaults. Values are checked by
   * {@link #withFlags}, after the command line had its say, as upstream validates the resolved
   * configuration.
   */
  public static KubeProxyConfiguration parse(String text) {
    JsonNode root;
    try {
      root = READER.readTree(text);
    } catch (JsonProcessingException e) {
      throw new ConfigException(
          "failed to decode: " + e.getOriginalMessage().replaceAll("\\s+", " ").strip());
    }
    if (root == null || root.isMissingNode() || root.isNull()) {
      throw new ConfigException("failed to decode: Object 'Kind' is missing in ''");
    }
    if (!root.isObject()) {
      throw new ConfigException("failed to decode: not an object: " + shape(root));
    }
    JsonNode kind = root.get("kind");
    JsonNode version = root.get("apiVersion");
    if (kind == null || !kind.isTextual() || kind.asText().isEmpty()) {
      throw new ConfigException("failed to decode: Object 'Kind' is missing");
    }
    if (!kind.asText().equals(KIND)) {
      throw new ConfigException("failed to decode: kind \"" + kind.asText() + "\" is not " + KIND);
    }
    if (version == null || !version.isTextual() || !version.asText().equals(API_VERSION)) {
      throw new ConfigException(
          "failed to decode: no kind \""
              + KIND
              + "\" is registered for version \""
              + (version == null ? "" : version.asText())
              + "\" (svcproxy reads "
              + API_VERSION
              + ")");
    }
    Map<String, Object> v = new HashMap<>();
    Set<String> given = new HashSet<>();
    List<String> unknown = new ArrayList<>();
    List<String> typeErrors = new ArrayList<>();
    walk(root, "", v, given, unknown, typeErrors);
    if (!unknown.isEmpty()) {
      List<String> parts = new ArrayList<>();
      for (String u : unknown) {
        parts.add("unknown field \"" + u + "\"");
      }
      // The wording of apimachinery's strict decoder (runtime.NewStrictDecodingError).
      throw new ConfigException("strict decoding error: " + String.join(", ", parts));
    }
    if (!typeErrors.isEmpty()) {
      throw new ConfigException("failed to decode: " + String.join(", ", typeErrors));
    }
    Map<String, Object> out = new HashMap<>();
    for (Field f : Schema.FIELDS.values()) {
      out.put(f.path(), defaulted(f, v.get(f.path())));
    }
    return new KubeProxyConfiguration(out, given, warningsFor(out, given));
  }

  /** SetDefaults_KubeProxyConfiguration for one field. */
  private static Object defaulted(Field f, Object value) {
    if (value == null || (!f.pointer() && f.isZero(value))) {
      value = f.def();
    }
    if (value instanceof String s
        && (f.path().equals("healthzBindAddress") || f.path().equals("metricsBindAddress"))) {
      return appendPortIfNeeded(s, f.path().equals("healthzBindAddress") ? 10256 : 10249);
    }
    return value;
  }

  /** proxyutil.AppendPortIfNeeded: a bare IP gets the default port. */
  static String appendPortIfNeeded(String addr, int port) {
    if (HostPort.split(addr) != null) {
      return addr;
    }
    if (Ip.isIpv4(addr)) {
      return addr + ":" + port;
    }
    if (Ip.isIpv6(addr)) {
      return "[" + addr + "]:" + port;
    }
    return addr;
  }

  private static void walk(
      JsonNode obj,
      String prefix,
      Map<String, Object> out,
      Set<String> given,
      List<String> unknown,
      List<String> typeErrors) {
    for (Map.Entry<String, JsonNode> e : obj.properties()) {
      String path = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
      JsonNode n = e.getValue();
      if (prefix.isEmpty() && (path.equals("apiVersion") || path.equals("kind"))) {
        continue;
      }
      Field f = Schema.FIELDS.get(path);
      if (f != null) {
        if (n.isNull()) {
          continue;
        }
        Object value = decode(f, n, typeErrors);
        if (value != null) {
          out.put(path, value);
          given.add(path);
        }
      } else if (Schema.OBJECTS.contains(path)) {
        if (n.isObject()) {
          walk(n, path, out, given, unknown, typeErrors);
        } else if (!n.isNull()) {
          typeErrors.add(cannot(n, path, "object"));
        }
      } else {
        unknown.add(path);
      }
    }
  }

  private static Object decode(Field f, JsonNode n, List<String> errors) {
    String path = f.path();
    switch (f.type()) {
      case STRING -> {
        if (n.isTextual()) {
          return n.asText();
        }
      }
      case BOOL -> {
        if (n.isBoolean()) {
          return n.asBoolean();
        }
      }
      case INT32 -> {
        if (n.isIntegralNumber() && n.canConvertToInt()) {
          return n.asInt();
        }
      }
      case FLOAT -> {
        if (n.isNumber()) {
          return n.asDouble();
        }
      }
      case DURATION, FLUSH -> {
        if (n.isTextual()) {
          try {
            return GoDuration.parse(n.asText());
          } catch (IllegalArgumentException ex) {
            errors.add(path + ": " + ex.getMessage());
            return null;
          }
        }
        if (f.type() == Field.Type.FLUSH && n.isIntegralNumber() && n.canConvertToLong()) {
          return Duration.ofNanos(n.asLong());
        }
      }
      case QUANTITY -> {
        if (n.isTextual() || n.isNumber()) {
          return n.asText();
        }
      }
      case STRING_LIST -> {
        if (n.isArray()) {
          List<String> l = new ArrayList<>();
          for (JsonNode item : n) {
            if (!item.isTextual()) {
              errors.add(cannot(item, path + "[]", "string"));
              return null;
            }
            l.add(item.asText());
          }
          return List.copyOf(l);
        }
      }
      case BOOL_MAP -> {
        if (n.isObject()) {
          Map<String, Boolean> m = new TreeMap<>();
          for (Map.Entry<String, JsonNode> e : n.properties()) {
            if (!e.getValue().isBoolean()) {
              errors.add(cannot(e.getValue(), path + "." + e.getKey(), "bool"));
              return null;
            }
            m.put(e.getKey(), e.getValue().asBoolean());
          }
          return Collections.unmodifiableMap(m);
        }
      }
      case ANY_LIST -> {
        if (n.isArray()) {
          List<Object> l = new ArrayList<>();
          for (JsonNode item : n) {
            l.add(READER.convertValue(item, Object.class));
          }
          return Collections.unmodifiableList(l);
        }
      }
    }
    errors.add(cannot(n, path, goType(f.type())));
    return null;
  }

  private static String goType(Field.Type t) {
    return switch (t) {
      case STRING -> "string";
      case BOOL -> "bool";
      case INT32 -> "int32";
      case FLOAT -> "float32";
      case DURATION, FLUSH -> "duration";
      case QUANTITY -> "quantity";
      case STRING_LIST -> "[]string";
      case BOOL_MAP -> "map[string]bool";
      case ANY_LIST -> "list";
    };
  }

  /** The wording of Go's encoding/json UnmarshalTypeError. */
  private static String cannot(JsonNode n, String path, String type) {
    return "json: cannot unmarshal " + shape(n) + " into field " + path + " of type " + type;
  }

  private static String shape(JsonNode n) {
    if (n.isTextual()) {
      return "string";
    }
    if (n.isNumber()) {
      return "number";
    }
    if (n.isBoolean()) {
      return "bool";
    }
    if (n.isArray()) {
      return "array";
    }
    return n.isObject() ? "object" : "null";
  }

  /**
   * The fields svcproxy accepts but does not act on, given with a value other than upstream's
   * default. The ones that would change behaviour silently are rejected by validation instead.
   */
  private static List<String> warningsFor(Map<String, Object> v, Set<String> given) {
    List<String> w = new ArrayList<>();
    for (String path :
        List.of(
            "featureGates",
            "clientConnection.acceptContentTypes",
            "clientConnection.contentType",
            "clientConnection.qps",
            "clientConnection.burst",
            "logging.flushFrequency",
            "logging.vmodule",
            "logging.options.json.splitStream",
            "logging.options.json.infoBufferSize",
            "logging.options.text.splitStream",
            "logging.options.text.infoBufferSize",
            "enableProfiling",
            "showHiddenMetricsForVersion",
            "oomScoreAdj",
            "portRange")) {
      Field f = Schema.FIELDS.get(path);
      if (given.contains(path) && !sameValue(v.get(path), f.def())) {
        w.add(
            "config field "
                + path
                + " is not implemented by svcproxy and is ignored (value "
                + show(v.get(path))
                + ")");
      }
    }
    return w;
  }

  private static boolean sameValue(Object a, Object b) {
    if (a instanceof List<?> l && l.isEmpty()) {
      a = null;
    }
    if (b instanceof List<?> l && l.isEmpty()) {
      b = null;
    }
    if (a instanceof Map<?, ?> m && m.isEmpty()) {
      a = null;
    }
    if (b instanceof Map<?, ?> m && m.isEmpty()) {
      b = null;
    }
    return a == null ? b == null : a.equals(b);
  }

  /** The warnings for fields svcproxy ignores (featureGates, clientConnection.qps, ...). */
  public List<String> warnings() {
    return warnings;
  }

  /** The effective value at {@code path}: String, Boolean, Integer, Double, Duration, List, Map. */
  public Object get(String path) {
    if (!Schema.FIELDS.containsKey(path)) {
      throw new IllegalArgumentException("no field " + path);
    }
    return values.get(path);
  }

  /** The flags that have a config field, in no particular order. */
  public static List<String> flags() {
    List<String> l = new ArrayList<>();
    for (Field f : Schema.FIELDS.values()) {
      if (f.flag() != null) {
        l.add(f.flag());
      }
    }
    return l;
  }

  /**
   * The effective value in the form its flag's field holds: String (durations as Go prints them,
   * null for "not set"), Boolean, Integer or List of String.
   */
  public Object flagValue(String flag) {
    Field f = byFlag(flag);
    Object v = values.get(f.path());
    return switch (flag) {
      // GetHostname trims and lower-cases the override.
      case "--hostname-override" ->
          ((String) v).isBlank() ? null : ((String) v).strip().toLowerCase(Locale.ROOT);
      case "--kubeconfig", "--pod-bridge-interface", "--pod-interface-name-prefix" ->
          ((String) v).isEmpty() ? null : v;
      case "--node-ip" -> unspecified((String) v) ? null : v;
      case "--cluster-cidr" ->
          ((String) v).isEmpty()
              ? new ArrayList<>()
              : new ArrayList<>(List.of(((String) v).split(",", -1)));
      default ->
          switch (f.type()) {
            case DURATION -> GoDuration.format((Duration) v);
            case STRING_LIST -> v == null ? new ArrayList<>() : new ArrayList<>((List<?>) v);
            default -> v;
          };
    };
  }

  /** 0.0.0.0 and :: mean "no primary IP given" (upstream leaves the choice to the Node). */
  private static boolean unspecified(String ip) {
    return ip.equals("0.0.0.0") || ip.equals("::");
  }

  private static Field byFlag(String flag) {
    for (Field f : Schema.FIELDS.values()) {
      if (flag.equals(f.flag())) {
        return f;
      }
    }
    throw new IllegalArgumentException("no config field for " + flag);
  }

  /**
   * This configuration with the flags given on the command line put over it ({@code flags}: flag
   * name to the value of its field, in {@link #flagValue}'s forms), then validated as upstream
   * validates; errors for values that came from flags are left to the flags' own checks.
   */
  public KubeProxyConfiguration withFlags(Map<String, Object> flags) {
    Map<String, Object> v = new HashMap<>(values);
    Set<String> fromFlags = new HashSet<>();
    for (Map.Entry<String, Object> e : flags.entrySet()) {
      Field f = byFlag(e.getKey());
      fromFlags.add(f.path());
      v.put(f.path(), fromFlag(f, e.getKey(), e.getValue()));
    }
    List<String> errors = new ArrayList<>();
    for (Validation.Problem p : Validation.validate(v)) {
      if (!fromFlags.contains(p.path()) && !fromFlags.contains(p.otherPath())) {
        errors.add(p.message());
      }
    }
    if (!errors.isEmpty()) {
      // field.ErrorList.ToAggregate: one error as is, more in brackets.
      throw new ConfigException(
          errors.size() == 1 ? errors.get(0) : "[" + String.join(", ", errors) + "]");
    }
    Set<String> given = new HashSet<>(this.given);
    given.addAll(fromFlags);
    return new KubeProxyConfiguration(v, given, warnings);
  }

  private static Object fromFlag(Field f, String flag, Object value) {
    if (value == null) {
      return flag.equals("--node-ip") ? "0.0.0.0" : f.zero();
    }
    if (flag.equals("--cluster-cidr")) {
      return String.join(",", castList(value));
    }
    if (flag.equals("--hostname-override")) {
      return value.toString().strip().toLowerCase(Locale.ROOT);
    }
    return switch (f.type()) {
      case DURATION -> {
        try {
          yield GoDuration.parse(value.toString());
        } catch (IllegalArgumentException e) {
          throw new ConfigException(flag + ": invalid duration \"" + value + "\"");
        }
      }
      case STRING_LIST -> {
        List<String> l = castList(value);
        yield l.isEmpty() ? null : List.copyOf(l);
      }
      case STRING -> value.toString();
      default -> value;
    };
  }

  private static List<String> castList(Object value) {
    List<String> l = new ArrayList<>();
    for (Object o : (List<?>) value) {
      l.add(o.toString());
    }
    return l;
  }

  /**
   * The configuration as `--write-config-to` writes it: every field, keys sorted, durations as Go
   * prints them, as upstream's v1alpha1 YAML encoder does.
   */
  public String toYaml() {
    Map<String, Object> root = new TreeMap<>();
    root.put("apiVersion", API_VERSION);
    root.put("kind", KIND);
    for (Field f : Schema.FIELDS.values()) {
      Object v = values.get(f.path());
      if (f.omitEmpty() && f.isZero(v)) {
        continue;
      }
      put(root, f.path(), yamlValue(f, v));
    }
    try {
      return WRITER.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Object yamlValue(Field f, Object v) {
    if (v instanceof Duration d) {
      return GoDuration.format(d);
    }
    if (v instanceof Double d && d == Math.rint(d)) {
      return d.longValue();
    }
    if (f.type() == Field.Type.STRING_LIST && v instanceof List<?> l && l.isEmpty()) {
      return null;
    }
    return v;
  }

  @SuppressWarnings("unchecked")
  private static void put(Map<String, Object> root, String path, Object v) {
    String[] parts = path.split("\\.");
    Map<String, Object> m = root;
    for (int i = 0; i < parts.length - 1; i++) {
      m = (Map<String, Object>) m.computeIfAbsent(parts[i], k -> new TreeMap<String, Object>());
    }
    m.put(parts[parts.length - 1], v);
  }

  static String show(Object v) {
    if (v instanceof String s) {
      return "\"" + s + "\"";
    }
    if (v instanceof Duration d) {
      return "\"" + GoDuration.format(d) + "\"";
    }
    return String.valueOf(v);
  }

  /** For tests: the fields given in the file or by flags. */
  Set<String> given() {
    return given;
  }

  @Override
  public String toString() {
    return new LinkedHashMap<>(new TreeMap<>(values)).toString();
  }
}
