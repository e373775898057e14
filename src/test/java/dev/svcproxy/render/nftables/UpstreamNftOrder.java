package dev.svcproxy.render.nftables;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * upstream's sortNFTablesTransaction (pkg/proxy/nftables/helpers_test.go): drop blank and '#'
 * lines, then a stable sort by object type (table, chain, rule, set, map, element), then by object
 * name (the fifth word); rules of one chain keep their order, anything else of one name sorts by
 * the whole line.
 */
final class UpstreamNftOrder {
  private static final Map<String, Integer> TYPE_ORDER =
      Map.of("table", 10, "chain", 9, "rule", 8, "set", 7, "map", 6, "element", 5);

  private UpstreamNftOrder() {}

  static String sort(String tx) {
    List<String> lines = new ArrayList<>();
    for (String l : tx.split("\n", -1)) {
      if (!l.isEmpty() && l.charAt(0) != '#') {
        lines.add(l);
      }
    }
    // List.sort is a stable merge sort, as Go's sort.SliceStable.
    lines.sort(ORDER);
    return String.join("\n", lines);
  }

  private static final Comparator<String> ORDER =
      (li, lj) -> {
        String[] wi = li.split(" ", -1);
        String[] wj = lj.split(" ", -1);
        if (wi.length < 5 || wj.length < 5) {
          return 0;
        }
        if (!wi[1].equals(wj[1])) {
          return Integer.compare(
              TYPE_ORDER.getOrDefault(wj[1], 0), TYPE_ORDER.getOrDefault(wi[1], 0));
        }
        if (!wi[4].equals(wj[4])) {
          return wi[4].compareTo(wj[4]);
        }
        if (wi[1].equals("rule")) {
          return 0;
        }
        return li.compareTo(lj);
      };
}
