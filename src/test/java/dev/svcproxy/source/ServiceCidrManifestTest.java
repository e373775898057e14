package dev.svcproxy.source;

import static org.assertj.core.api.Assertions.assertThat;

import dev.svcproxy.model.Cidr;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * ServiceCIDR objects in manifests: read as the API server validates them (expected messages are
 * those of upstream's ValidateServiceCIDR for the same objects).
 */
class ServiceCidrManifestTest {
  private final ManifestParser parser = new ManifestParser();

  private static String cidr(String name, String cidrs) {
    return "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: "
        + name
        + "}\nspec: {cidrs: "
        + cidrs
        + "}\n";
  }

  @Test
  void parse_dualStackServiceCidr_keepsBothPrefixesInOrder() {
    ManifestSet set = parser.parse("c.yaml", cidr("kubernetes", "[10.96.0.0/12, 'fd00:10::/112']"));
    assertThat(set.problems()).isEmpty();
    assertThat(set.serviceCidrs())
        .containsExactly(Cidr.parse("10.96.0.0/12"), Cidr.parse("fd00:10::/112"));
  }

  @Test
  void parse_v1beta1ServiceCidr_isReadToo() {
    ManifestSet set =
        parser.parse("c.yaml", cidr("extra", "[172.30.0.0/16]").replace("/v1\n", "/v1beta1\n"));
    assertThat(set.serviceCidrs()).containsExactly(Cidr.parse("172.30.0.0/16"));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "not canonical|[10.96.0.1/12]|spec.cidrs[0]: invalid value \"10.96.0.1/12\": must be in"
            + " canonical form (\"10.96.0.0/12\")",
        "no prefix length|[10.96.0.0]|spec.cidrs[0]",
        "garbage|[ten.0.0.0/8]|spec.cidrs[0]: invalid value \"ten.0.0.0/8\": must be a valid CIDR",
        "three|[10.0.0.0/8, 11.0.0.0/8, 'fd00::/64']|spec.cidrs: Too many: 3",
        "same family twice|[10.0.0.0/8, 11.0.0.0/8]|may specify no more than one IP for each IP"
            + " family",
        "empty|[]|spec.cidrs: Required value",
      })
  void parse_invalidServiceCidr_isNamedAndLeftOut(String what, String cidrs, String message) {
    ManifestSet set = parser.parse("c.yaml", cidr("bad", cidrs));
    assertThat(set.serviceCidrs()).isEmpty();
    assertThat(set.problems())
        .singleElement()
        .satisfies(
            p -> assertThat(p.toString()).contains("c.yaml").contains("bad").contains(message));
  }

  @Test
  void parse_serviceCidrWithInvalidName_isRefused() {
    ManifestSet set = parser.parse("c.yaml", cidr("Bad_Name", "[10.96.0.0/12]"));
    assertThat(set.serviceCidrs()).isEmpty();
    assertThat(set.problems()).singleElement().asString().contains("metadata.name");
  }

  @Test
  void serviceCidrs_acrossObjects_inFileOrder() {
    ManifestSet set =
        parser.parse(
            "c.yaml", cidr("a", "[10.96.0.0/12]") + "---\n" + cidr("b", "[172.30.0.0/16]"));
    assertThat(set.serviceCidrs())
        .isEqualTo(List.of(Cidr.parse("10.96.0.0/12"), Cidr.parse("172.30.0.0/16")));
  }
}
