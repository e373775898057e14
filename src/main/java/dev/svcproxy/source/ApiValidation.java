package dev.svcproxy.source;

import java.util.regex.Pattern;

/**
 * The API server's value checks (k8s.io/apimachinery/pkg/util/validation and
 * pkg/apis/core/validation) for the fields a proxy reads. Each returns null when the value is
 * valid, else the reason, worded after upstream's messages.
 */
final class ApiValidation {
  private ApiValidation() {}

  private static final String LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
  private static final Pattern DNS1123_LABEL = Pattern.compile(LABEL);
  private static final Pattern DNS1035_LABEL = Pattern.compile("[a-z]([-a-z0-9]*[a-z0-9])?");
  private static final Pattern DNS1123_SUBDOMAIN = Pattern.compile(LABEL + "(\\." + LABEL + ")*");
  private static final Pattern QUALIFIED_NAME_PART =
      Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
  private static final Pattern LABEL_VALUE =
      Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
  private static final Pattern IANA_SVC_NAME = Pattern.compile("[-a-z0-9]+");
  private static final Pattern HAS_LETTER = Pattern.compile(".*[a-z].*");

  /** IsDNS1123Label: namespaces, port names of Services and EndpointSlices, hostnames. */
  static String dns1123Label(String v) {
    if (v.length() > 63) {
      return "must be no more than 63 characters";
    }
    if (!DNS1123_LABEL.matcher(v).matches()) {
      return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
          + " '-', and must start and end with an alphanumeric character";
    }
    return null;
  }

  /** IsDNS1035Label: Service names. */
  static String dns1035Label(String v) {
    if (v.length() > 63) {
      return "must be no more than 63 characters";
    }
    if (!DNS1035_LABEL.matcher(v).matches()) {
      return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start"
          + " with an alphabetic character, and end with an alphanumeric character";
    }
    return null;
  }

  /** IsDNS1123Subdomain: EndpointSlice and Endpoints names, node names. */
  static String dns1123Subdomain(String v) {
    if (v.length() > 253) {
      return "must be no more than 253 characters";
    }
    if (!DNS1123_SUBDOMAIN.matcher(v).matches()) {
      return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
          + " '-' or '.', and must start and end with an alphanumeric character";
    }
    return null;
  }

  /** IsValidPortName: an IANA service name, as a Service's targetPort names a container port. */
  static String ianaServiceName(String v) {
    if (v.isEmpty() || v.length() > 15) {
      return "must be no more than 15 characters";
    }
    if (!IANA_SVC_NAME.matcher(v).matches()) {
      return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
    }
    if (v.contains("--")) {
      return "must not contain consecutive hyphens";
    }
    if (!HAS_LETTER.matcher(v).matches()) {
      return "must contain at least one letter (a-z)";
    }
    if (v.startsWith("-") || v.endsWith("-")) {
      return "must not begin or end with a hyphen";
    }
    return null;
  }

  /** IsValidLabelValue: label values, zones. */
  static String labelValue(String v) {
    if (v.length() > 63) {
      return "must be no more than 63 characters";
    }
    if (!LABEL_VALUE.matcher(v).matches()) {
      return "a valid label must be an empty string or consist of alphanumeric characters, '-',"
          + " '_' or '.', and must start and end with an alphanumeric character";
    }
    return null;
  }

  /** IsQualifiedName: label keys, an optional DNS-1123 subdomain prefix and a name. */
  static String qualifiedName(String v) {
    String name = v;
    int slash = v.indexOf('/');
    if (slash >= 0) {
      String prefix = v.substring(0, slash);
      name = v.substring(slash + 1);
      if (prefix.isEmpty()) {
        return "prefix part must be non-empty";
      }
      String p = dns1123Subdomain(prefix);
      if (p != null) {
        return "prefix part " + p;
      }
    }
    if (name.isEmpty()) {
      return "name part must be non-empty";
    }
    if (name.length() > 63) {
      return "name part must be no more than 63 characters";
    }
    if (!QUALIFIED_NAME_PART.matcher(name).matches()) {
      return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start"
          + " and end with an alphanumeric character";
    }
    return null;
  }
}
