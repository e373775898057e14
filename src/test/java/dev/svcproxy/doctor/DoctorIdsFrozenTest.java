package dev.svcproxy.doctor;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The finding ids are a contract ("may be added, never renamed"): the list frozen in doctor-ids.txt
 * must all still be in the catalogue, and every id of the catalogue must be in the list (so a new
 * id is frozen the moment it is added).
 */
class DoctorIdsFrozenTest {
  private static List<String> frozen() throws IOException {
    try (InputStream in = DoctorIdsFrozenTest.class.getResourceAsStream("/doctor-ids.txt")) {
      assertThat(in).as("doctor-ids.txt on the test classpath").isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8)
          .lines()
          .map(String::strip)
          .filter(l -> !l.isEmpty() && !l.startsWith("#"))
          .toList();
    }
  }

  private static List<String> catalogue() {
    return Catalogue.of(Checks.all()).stream().map(Catalogue.Entry::id).toList();
  }

  @Test
  void frozenIds_everyOneStillInTheCatalogue() throws IOException {
    assertThat(frozen()).hasSizeGreaterThanOrEqualTo(34).doesNotHaveDuplicates();
    assertThat(catalogue()).as("ids may be added, never renamed or removed").containsAll(frozen());
  }

  @Test
  void catalogue_everyIdIsFrozen() throws IOException {
    assertThat(frozen()).as("add the new id to doctor-ids.txt").containsAll(catalogue());
  }
}
