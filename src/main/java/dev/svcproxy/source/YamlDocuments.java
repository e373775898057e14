package dev.svcproxy.source;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.StringReader;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Reads the documents of a YAML (or JSON) file into Jackson trees, one document at a time, so one
 * broken document does not hide the ones after it.
 *
 * <p>Why not Jackson's YAML module: it turns an alias into the anchor's name as a string ({@code b:
 * *x} reads as {@code "x"}) and drops duplicate keys silently. SnakeYAML's composer resolves
 * aliases as YAML says; this class turns its node graph into a tree, applies merge keys ({@code
 * <<}) as kubectl's YAML library does, types plain scalars by the YAML 1.2 core schema, and reports
 * duplicate keys (the last value wins, as the API server's JSON decoder keeps it).
 *
 * <p>Limits, checked in one linear pass before SnakeYAML sees the text. SnakeYAML's reader copies
 * its whole look-ahead window for every 1 KB it reads while one token is being scanned, so a long
 * token costs time quadratic in its length: a 50 MB value took 582 s, and a 1 MB line of a block
 * scalar takes seconds. Every such token lies within one line, so the work is bounded by the
 * squares of the line lengths: a document over {@link #MAX_DOCUMENT_CHARS} or with a line over
 * {@link #MAX_LINE_CHARS} is rejected, and so is a document whose lines over {@link #LONG_LINE}
 * characters would push the file's sum of their squared lengths over {@link #LONG_LINE_BUDGET} (at
 * most a few hundred milliseconds of parsing, e.g. one line of 128 K characters). A warning names
 * the limit; the other documents are still read.
 */
public final class YamlDocuments {
  /** SnakeYAML's own default code point limit, applied per document before parsing. */
  static final int MAX_DOCUMENT_CHARS = 3 * 1024 * 1024;

  /** Longest line (a comment or a block scalar line is one token to the scanner). */
  static final int MAX_LINE_CHARS = 128 * 1024;

  /** Lines up to this long cost the scanner next to nothing beyond linear time. */
  static final int LONG_LINE = 4096;

  /** Most a file's long lines may add up to, as the sum of their squared lengths. */
  static final long LONG_LINE_BUDGET = (long) MAX_LINE_CHARS * MAX_LINE_CHARS;

  /** Most documents read from one file; the rest get one warning. */
  static final int MAX_DOCUMENTS = 200_000;

  /** Most nodes one document may expand to once aliases are resolved. */
  static final int MAX_NODES = 2_000_000;

  private static final JsonNodeFactory F = JsonNodeFactory.instance;
  private static final Pattern NULL = Pattern.compile("~|null|Null|NULL|");
  private static final Pattern TRUE = Pattern.compile("true|True|TRUE|yes|Yes|YES|on|On|ON");
  private static final Pattern FALSE = Pattern.compile("false|False|FALSE|no|No|NO|off|Off|OFF");
  private static final Pattern DEC = Pattern.compile("[-+]?[0-9]+");
  private static final Pattern OCT = Pattern.compile("0o[0-7]+");
  private static final Pattern HEX = Pattern.compile("0x[0-9a-fA-F]+");
  private static final Pattern FLOAT =
      Pattern.compile("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");

  private YamlDocuments() {}

  /**
   * One document: its number in the file (1-based, as kubectl counts them), the line it starts on,
   * and either its tree (null for an empty document) or why it could not be read. Warnings are
   * about a document that was read (duplicate keys).
   */
  public record Document(
      int number, int firstLine, JsonNode tree, String error, List<String> warnings) {
    public Document {
      warnings = List.copyOf(warnings);
    }
  }

  /** Splits {@code text} into documents and reads each; never throws for bad input. */
  public static List<Document> read(String text) {
    List<Document> out = new ArrayList<>();
    int number = 0;
    long spent = 0;
    Yaml yaml = new Yaml(options());
    for (Chunk c : split(text)) {
      if (!c.counts()) {
        continue;
      }
      number++;
      if (number > MAX_DOCUMENTS) {
        out.add(
            new Document(
                number,
                c.firstLine,
                null,
                "too many documents: only the first " + MAX_DOCUMENTS + " of a file are read",
                List.of()));
        break;
      }
      String tooBig = c.limitExceeded();
      if (tooBig == null && spent + c.longLineWork > LONG_LINE_BUDGET) {
        tooBig =
            "too many long lines: with this document's "
                + c.longLines
                + " lines of more than "
                + LONG_LINE
                + " characters, the file's long lines add up to more than the limit (the sum of"
                + " their squared lengths may not exceed "
                + LONG_LINE_BUDGET
                + ", one line of "
                + MAX_LINE_CHARS
                + " characters)";
      }
      if (tooBig != null) {
        out.add(new Document(number, c.firstLine, null, tooBig, List.of()));
        continue;
      }
      spent += c.longLineWork;
      if (!c.content) {
        continue; // an empty document: nothing to parse
      }
      String body = text.substring(c.start, c.end);
      Iterator<Node> it;
      try {
        it = yaml.composeAll(new StringReader(body)).iterator();
        boolean first = true;
        while (it.hasNext()) {
          if (!first) {
            number++;
          }
          first = false;
          Node n = it.next();
          List<String> warnings = new ArrayList<>();
          JsonNode tree = n == null ? null : new Converter(c.firstLine, warnings).convert(n);
          out.add(new Document(number, c.firstLine, tree, null, warnings));
        }
      } catch (MarkedYAMLException e) {
        out.add(new Document(number, c.firstLine, null, describe(e, c.firstLine), List.of()));
      } catch (YamlError e) {
        out.add(new Document(number, c.firstLine, null, e.getMessage(), List.of()));
      } catch (RuntimeException e) {
        // SnakeYAML reports some limits (aliases, nesting, code points) as plain exceptions.
        out.add(new Document(number, c.firstLine, null, firstLine(e.getMessage()), List.of()));
      }
    }
    return out;
  }

  private static LoaderOptions options() {
    LoaderOptions o = new LoaderOptions();
    o.setCodePointLimit(MAX_DOCUMENT_CHARS + 1024);
    o.setMaxAliasesForCollections(50);
    o.setNestingDepthLimit(100);
    o.setAllowRecursiveKeys(false);
    o.setProcessComments(false);
    return o;
  }

  private static String describe(MarkedYAMLException e, int firstLine) {
    Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
    String what = e.getProblem() != null ? e.getProblem() : firstLine(e.getMessage());
    if (e.getContext() != null) {
      what = e.getContext() + ": " + what;
    }
    return m == null ? what : what + " at line " + (firstLine + m.getLine());
  }

  private static String firstLine(String m) {
    String s = String.valueOf(m);
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /**
   * A document's text: [start, end) of the file, the 1-based line it starts on, whether it began
   * with a "---" marker, whether it holds anything but blank lines, comments and directives, and
   * the longest line and the work its long lines cost the scanner (for the limits).
   */
  private static final class Chunk {
    final int start;
    final int firstLine;
    final boolean explicit;
    int end;
    boolean content;
    int longestLine;
    int longestLineAt;
    int longLines;
    long longLineWork;

    Chunk(int start, int firstLine, boolean explicit) {
      this.start = start;
      this.firstLine = firstLine;
      this.explicit = explicit;
    }

    boolean counts() {
      return explicit || content;
    }

    String limitExceeded() {
      int size = end - start;
      if (size > MAX_DOCUMENT_CHARS) {
        return "document is too large: "
            + size
            + " characters, more than the limit of "
            + MAX_DOCUMENT_CHARS;
      }
      if (longestLine > MAX_LINE_CHARS) {
        return "line "
            + longestLineAt
            + " is too long: "
            + longestLine
            + " characters, more than the limit of "
            + MAX_LINE_CHARS;
      }
      return null;
    }
  }

  /**
   * Cuts the text at document markers in one pass. A line starting with "---" followed by white
   * space or the line end begins a document, and "..." ends one: YAML forbids both at the start of
   * a line inside any content, so this split is the one a YAML parser makes.
   */
  private static List<Chunk> split(String text) {
    List<Chunk> chunks = new ArrayList<>();
    Chunk cur = new Chunk(0, 1, false);
    int pos = 0;
    int line = 1;
    int n = text.length();
    while (pos < n) {
      int eol = text.indexOf('\n', pos);
      int next = eol < 0 ? n : eol + 1;
      int lineEnd = eol < 0 ? n : eol;
      if (marker(text, pos, lineEnd, "---")) {
        cur.end = pos;
        chunks.add(cur);
        cur = new Chunk(pos, line, true);
        cur.content = hasContent(text, pos + 3, lineEnd);
      } else if (marker(text, pos, lineEnd, "...")) {
        cur.end = next;
        chunks.add(cur);
        cur = new Chunk(next, line + 1, false);
        pos = next;
        line++;
        continue;
      } else if (!cur.content && hasContent(text, pos, lineEnd)) {
        cur.content = true;
      }
      measure(cur, text, pos, lineEnd, line);
      pos = next;
      line++;
    }
    cur.end = n;
    chunks.add(cur);
    return chunks;
  }

  private static boolean marker(String text, int pos, int lineEnd, String m) {
    if (!text.startsWith(m, pos)) {
      return false;
    }
    int after = pos + 3;
    return after >= lineEnd
        || text.charAt(after) == ' '
        || text.charAt(after) == '\t'
        || text.charAt(after) == '\r';
  }

  private static boolean hasContent(String text, int pos, int lineEnd) {
    for (int i = pos; i < lineEnd; i++) {
      char c = text.charAt(i);
      if (c == ' ' || c == '\t' || c == '\r' || c == '\uFEFF') {
        continue;
      }
      return c != '#' && !(c == '%' && i == pos);
    }
    return false;
  }

  private static void measure(Chunk c, String text, int pos, int lineEnd, int line) {
    int len = lineEnd - pos;
    if (len > c.longestLine) {
      c.longestLine = len;
      c.longestLineAt = line;
    }
    if (len > LONG_LINE) {
      c.longLines++;
      c.longLineWork += (long) len * len;
    }
  }

  /** Why a document's node graph could not become a tree. */
  private static final class YamlError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    YamlError(String message) {
      super(message, null, false, false);
    }
  }

  /** Turns one composed document into a tree; not thread-safe, one per document. */
  private static final class Converter {
    private final int lineBase;
    private final List<String> warnings;
    private final Set<Node> inProgress = Collections.newSetFromMap(new IdentityHashMap<>());
    private int nodes;

    Converter(int lineBase, List<String> warnings) {
      this.lineBase = lineBase;
      this.warnings = warnings;
    }

    JsonNode convert(Node n) {
      if (++nodes > MAX_NODES) {
        throw new YamlError(
            "document expands to more than " + MAX_NODES + " nodes once aliases are resolved");
      }
      if (!inProgress.add(n)) {
        throw new YamlError("recursive alias at line " + line(n));
      }
      try {
        return switch (n) {
          case ScalarNode s -> scalar(s);
          case SequenceNode q -> {
            ArrayNode a = F.arrayNode();
            for (Node item : q.getValue()) {
              a.add(convert(item));
            }
            yield a;
          }
          case MappingNode m -> mapping(m);
          default -> throw new YamlError("unsupported YAML node at line " + line(n));
        };
      } finally {
        inProgress.remove(n);
      }
    }

    private int line(Node n) {
      return lineBase + n.getStartMark().getLine();
    }

    private ObjectNode mapping(MappingNode m) {
      ObjectNode o = F.objectNode();
      Map<String, Integer> firstAt = new HashMap<>();
      List<Node> merges = new ArrayList<>();
      for (NodeTuple t : m.getValue()) {
        Node k = t.getKeyNode();
        if (!(k instanceof ScalarNode ks)) {
          throw new YamlError("a mapping key that is not a scalar at line " + line(k));
        }
        if (ks.getTag().equals(Tag.MERGE) && ks.isPlain() && ks.getValue().equals("<<")) {
          merges.add(t.getValueNode());
          continue;
        }
        String key = ks.getValue();
        Integer earlier = firstAt.putIfAbsent(key, line(k));
        if (earlier != null) {
          warnings.add(
              "duplicate key "
                  + Printable.quoted(key)
                  + " at line "
                  + line(k)
                  + " (first at line "
                  + earlier
                  + "); the last value is used");
        }
        o.set(key, convert(t.getValueNode()));
      }
      // Explicit keys win over merged ones, and earlier merged maps over later ones.
      for (Node src : merges) {
        List<Node> maps = src instanceof SequenceNode q ? q.getValue() : List.of(src);
        for (Node mm : maps) {
          if (!(mm instanceof MappingNode)) {
            throw new YamlError("a merge key (<<) needs a mapping at line " + line(mm));
          }
          JsonNode merged = convert(mm);
          for (Map.Entry<String, JsonNode> e : merged.properties()) {
            if (!o.has(e.getKey())) {
              o.set(e.getKey(), e.getValue());
            }
          }
        }
      }
      return o;
    }

    /** Plain scalars are typed by the YAML 1.2 core schema; quoted and block ones are strings. */
    private static JsonNode scalar(ScalarNode s) {
      String v = s.getValue();
      // SnakeYAML tags a plain scalar str when its YAML 1.1 resolver sees no other type, or when
      // the document says !!str; either way it stays a string.
      if (!s.isPlain() || s.getTag().equals(Tag.STR)) {
        return F.textNode(v);
      }
      if (NULL.matcher(v).matches()) {
        return F.nullNode();
      }
      // yes/no/on/off too: kubectl's YAML library (go-yaml v2) reads them as booleans.
      if (TRUE.matcher(v).matches()) {
        return F.booleanNode(true);
      }
      if (FALSE.matcher(v).matches()) {
        return F.booleanNode(false);
      }
      if (v.length() <= 64) {
        if (DEC.matcher(v).matches()) {
          return integer(new BigInteger(v.startsWith("+") ? v.substring(1) : v));
        }
        if (OCT.matcher(v).matches()) {
          return integer(new BigInteger(v.substring(2), 8));
        }
        if (HEX.matcher(v).matches()) {
          return integer(new BigInteger(v.substring(2), 16));
        }
        if (FLOAT.matcher(v).matches()) {
          return F.numberNode(Double.parseDouble(v));
        }
      }
      return switch (v) {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF" ->
            F.numberNode(Double.POSITIVE_INFINITY);
        case "-.inf", "-.Inf", "-.INF" -> F.numberNode(Double.NEGATIVE_INFINITY);
        case ".nan", ".NaN", ".NAN" -> F.numberNode(Double.NaN);
        default -> F.textNode(v);
      };
    }

    private static JsonNode integer(BigInteger b) {
      if (b.bitLength() < 32) {
        return F.numberNode(b.intValue());
      }
      if (b.bitLength() < 64) {
        return F.numberNode(b.longValue());
      }
      return F.numberNode(b);
    }
  }
}
