package dev.svcproxy.nftables.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Damaged pastes (cut short, a line lost, words swapped) either convert or fail with an {@link
 * NftTextException} naming the place: a bundle reader must never meet another exception.
 */
class NftTextConverterFuzzTest {
  private static final List<String> SAMPLES =
      List.of("upstream-overall.nft", "firewalld.nft", "docker.nft", "constructs.nft");

  @Test
  void toJson_damagedText_convertsOrReportsAPlace() {
    Random r = new Random(42);
    List<String> failures = new ArrayList<>();
    for (String name : SAMPLES) {
      String text = NftTextConverterKernelTest.resource(name);
      for (int i = 0; i < 400; i++) {
        String damaged = damage(text, r);
        try {
          NftTextConverter.toJson(name, damaged);
        } catch (NftTextException e) {
          assertThat(e.line()).isPositive();
        } catch (RuntimeException e) {
          failures.add(e + "\n--- for ---\n" + damaged);
        }
      }
    }
    assertThat(failures).as(failures.isEmpty() ? "" : failures.get(0)).isEmpty();
  }

  private static String damage(String text, Random r) {
    String[] words = text.split("(?<=\\s)|(?=\\s)");
    List<String> w = new ArrayList<>(List.of(words));
    switch (r.nextInt(4)) {
      case 0 -> {
        return text.substring(0, r.nextInt(text.length()));
      }
      case 1 -> {
        for (int k = 0; k < 3; k++) {
          w.remove(r.nextInt(w.size()));
        }
      }
      case 2 -> {
        for (int k = 0; k < 3; k++) {
          int a = r.nextInt(w.size());
          int b = r.nextInt(w.size());
          String t = w.get(a);
          w.set(a, w.get(b));
          w.set(b, t);
        }
      }
      default -> {
        String[] junk = {
          "{", "}", ";", "\"", ":", ".", "@", "-", "0x", "99999999999999999999", "#", "to", "handle"
        };
        for (int k = 0; k < 3; k++) {
          w.add(r.nextInt(w.size()), junk[r.nextInt(junk.length)]);
        }
      }
    }
    return String.join("", w);
  }
}
