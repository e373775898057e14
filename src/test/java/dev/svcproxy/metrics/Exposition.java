package dev.svcproxy.metrics;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Prometheus text exposition read back: HELP and TYPE per family, and the value of each series
 * keyed as printed ("name{label=\"v\",...}"), the way a scraper sees it.
 */
record Exposition(
    String text, Map<String, String> help, Map<String, String> type, Map<String, Double> series) {

  static Exposition of(PrometheusRegistry registry) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      PrometheusTextFormatWriter.create().write(out, registry.scrape());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return parse(out.toString(StandardCharsets.UTF_8));
  }

  static Exposition parse(String text) {
    Map<String, String> help = new LinkedHashMap<>();
    Map<String, String> type = new LinkedHashMap<>();
    Map<String, Double> series = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      if (line.startsWith("# HELP ")) {
        String[] p = line.substring(7).split(" ", 2);
        help.put(p[0], p.length > 1 ? p[1] : "");
      } else if (line.startsWith("# TYPE ")) {
        String[] p = line.substring(7).split(" ", 2);
        type.put(p[0], p[1]);
      } else if (!line.isBlank() && !line.startsWith("#")) {
        int sp = line.lastIndexOf(' ');
        series.put(line.substring(0, sp), Double.parseDouble(line.substring(sp + 1)));
      }
    }
    return new Exposition(text, help, type, series);
  }

  /** The value of {@code key}; fails when the series is absent. */
  double value(String key) {
    Double v = series.get(key);
    if (v == null) {
      throw new AssertionError("no series " + key + " in:\n" + text);
    }
    return v;
  }

  /** The le values of a histogram's buckets for the series with {@code labels} ("" for none). */
  List<String> buckets(String name, String labels) {
    List<String> out = new ArrayList<>();
    String prefix = name + "_bucket{" + (labels.isEmpty() ? "" : labels + ",") + "le=\"";
    for (String k : series.keySet()) {
      if (k.startsWith(prefix)) {
        out.add(k.substring(prefix.length(), k.length() - 2));
      }
    }
    return out;
  }
}
