package dev.svcproxy.trace.html;

import dev.svcproxy.trace.Outcome;
import dev.svcproxy.trace.Step;
import dev.svcproxy.trace.StepKind;
import dev.svcproxy.trace.TraceResult;
import dev.svcproxy.trace.Verdict;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A trace laid out as a flow chart, the way the book draws a packet's way through a node: one box
 * per step (routing decisions as diamonds, NAT rewrites and IPVS set apart), grouped in bands by
 * hook, then the reply back; the paths of all outcomes share the steps they have in common and
 * split where a statistic rule (or IPVS) chooses, each branch labelled with its probability; every
 * path ends in its verdict. Pure: positions in CSS pixels, text not yet escaped.
 *
 * @param drawn how many outcomes are drawn (the most probable, failures first, past {@code limit})
 * @param boxOf the box that draws each step ({@link #stepId}) of the drawn outcomes: a step the
 *     paths share is drawn once
 */
public record PathChart(
    int width,
    int height,
    List<Band> bands,
    List<Box> boxes,
    List<Edge> edges,
    int drawn,
    Map<String, String> boxOf) {
  public PathChart {
    bands = List.copyOf(bands);
    boxes = List.copyOf(boxes);
    edges = List.copyOf(edges);
    boxOf = Map.copyOf(boxOf);
  }

  /** Box width and the characters of text that fit on one of its lines (11px monospace). */
  static final int BOX_W = 320;

  static final int LINE_CHARS = 42;
  private static final int COL_W = BOX_W + 40;
  private static final int LINE_H = 14;
  private static final int GAP = 16;
  private static final int BAND_HEAD = 18;
  private static final int SPLIT = 44;
  private static final int MARGIN = 24;

  /** How a box is drawn. */
  public enum Shape {
    /** The packet is created, arrives, or its reply arrives. */
    PACKET,
    /** A routing decision (a diamond). */
    ROUTE,
    CONNTRACK,
    /** A rule that matched and jumped, or changed a mark. */
    RULE,
    /** A DNAT, SNAT, MASQUERADE or REDIRECT rule. */
    NAT,
    /** A chain's end, a statistic branch not taken, a rule not evaluated: the packet goes on. */
    PASS,
    /** A base chain's policy. */
    POLICY,
    IPVS,
    /** nftables or another hook function. */
    PARTICIPANT,
    /** Delivered or sent out. */
    DELIVERY,
    /** Bridged traffic, summaries. */
    NOTE,
    /** The head of the reply leg. */
    REPLY,
    /** An outcome's end: its verdict and probability. */
    VERDICT
  }

  /** What a box says about the outcome. */
  public enum State {
    NORMAL,
    /** The step that dropped or rejected the packet, or where its reply is lost. */
    FAILING,
    /** Not followed (branches past the tracer's bound). */
    UNKNOWN,
    /** A verdict box of a delivered outcome. */
    DELIVERED,
    /** A verdict box of an outcome that was not delivered (or whose reply is lost). */
    LOST
  }

  /**
   * One box. {@code target} is the id of the step's row in the page's step list ({@link #stepId});
   * {@code lines} the text in the box (clipped), {@code tooltip} the full text.
   */
  public record Box(
      String id,
      int x,
      int y,
      int w,
      int h,
      Shape shape,
      State state,
      List<String> lines,
      String tooltip,
      String target,
      Step step) {
    public Box {
      lines = List.copyOf(lines);
    }
  }

  /** The background of consecutive boxes at one hook, with the hook's name. */
  public record Band(int x, int y, int w, int h, String label, boolean reply) {}

  public record Point(int x, int y) {}

  /** An arrow along {@code points}; {@code label} (a branch's probability) near its end or "". */
  public record Edge(List<Point> points, String label, int labelX, int labelY) {
    public Edge {
      points = List.copyOf(points);
    }
  }

  /** The page id of a step: outcome (1-based), request or reply, step (1-based; reply head 0). */
  public static String stepId(int outcome, boolean reply, int index) {
    return "o" + outcome + (reply ? "r" : "s") + index;
  }

  /**
   * The 0-based index of the step that ended an outcome that was not delivered (the one carrying
   * the reason code, else the last), or -1 when it was delivered or not followed.
   */
  public static int failingStep(Outcome o) {
    if (o.delivered() || o.verdict() == Verdict.UNKNOWN || o.steps().isEmpty()) {
      return -1;
    }
    for (int i = o.steps().size() - 1; i >= 0; i--) {
      if (o.steps().get(i).reasonCode() != null) {
        return i;
      }
    }
    return o.steps().size() - 1;
  }

  /**
   * Where the reply is lost: 0 for the reply as a whole (it does not come back), i > 0 for its i-th
   * step (dropped on its way back), -1 when it comes back or there is none.
   */
  public static int failingReplyStep(Outcome o) {
    Outcome.Reply r = o.reply();
    if (r == null || r.reasonCode() == null) {
      return -1;
    }
    for (int i = r.steps().size() - 1; i >= 0; i--) {
      if (r.steps().get(i).reasonCode() != null) {
        return i + 1;
      }
    }
    return r.verdict() != Verdict.ACCEPT && !r.steps().isEmpty() ? r.steps().size() : 0;
  }

  /** Whether an outcome is lost: not delivered, or its reply does not make it back. */
  public static boolean lost(Outcome o) {
    return !o.delivered() || failingReplyStep(o) >= 0;
  }

  private enum ItemKind {
    STEP,
    REPLY_HEAD,
    REPLY_STEP,
    VERDICT
  }

  /** One box-to-be of one outcome's path; equal keys merge between outcomes. */
  private record Item(ItemKind kind, Step step, Outcome outcome, int outcomeNo, int index) {
    Object key() {
      return switch (kind) {
        case STEP, REPLY_STEP -> List.of(kind, step);
        case REPLY_HEAD ->
            List.of(
                kind,
                Objects.toString(outcome.reply().reason()),
                Objects.toString(outcome.reply().reasonCode()));
        case VERDICT -> List.of(kind, outcomeNo);
      };
    }

    String hook() {
      return switch (kind) {
        case STEP -> step.hook();
        case REPLY_STEP -> "reply \u00b7 " + step.hook();
        case REPLY_HEAD -> "reply";
        case VERDICT -> "";
      };
    }
  }

  private record Path(int outcomeNo, double probability, List<Item> items) {}

  /** A run of steps shared by some paths, then the branches where they part. */
  private static final class Node {
    final List<Item> items = new ArrayList<>();

    /** For each item, the same step in every path that shares it. */
    final List<List<Item>> merged = new ArrayList<>();

    final List<Node> children = new ArrayList<>();
    double probability;
    int leaves;
    int firstColumn;
    Box first;
    Box last;
  }

  /**
   * Lays out {@code r}: at most {@code limit} outcomes are drawn (those not delivered first, then
   * the most probable); the page lists the rest.
   */
  public static PathChart of(TraceResult r, int limit) {
    List<Outcome> all = r.outcomes();
    List<Integer> chosen = new ArrayList<>();
    for (int i = 0; i < all.size(); i++) {
      chosen.add(i);
    }
    if (chosen.size() > limit) {
      chosen.sort(
          Comparator.comparing((Integer i) -> !lost(all.get(i)))
              .thenComparing(i -> -all.get(i).probability()));
      chosen = new ArrayList<>(chosen.subList(0, limit));
      chosen.sort(Comparator.naturalOrder());
    }
    List<Path> paths = new ArrayList<>();
    for (int i : chosen) {
      paths.add(path(all.get(i), i + 1));
    }
    Layout l = new Layout();
    if (!paths.isEmpty()) {
      Node root = tree(paths, 0);
      columns(root, 0);
      l.place(root, MARGIN);
    }
    int columns = Math.max(1, paths.size());
    return new PathChart(
        columns * COL_W + 2 * MARGIN - (COL_W - BOX_W) + 40,
        l.bottom + MARGIN,
        l.bands,
        l.boxes,
        l.edges,
        paths.size(),
        l.boxOf);
  }

  private static Path path(Outcome o, int no) {
    List<Item> items = new ArrayList<>();
    for (int i = 0; i < o.steps().size(); i++) {
      items.add(new Item(ItemKind.STEP, o.steps().get(i), o, no, i + 1));
    }
    if (o.reply() != null) {
      items.add(new Item(ItemKind.REPLY_HEAD, null, o, no, 0));
      for (int i = 0; i < o.reply().steps().size(); i++) {
        items.add(new Item(ItemKind.REPLY_STEP, o.reply().steps().get(i), o, no, i + 1));
      }
    }
    items.add(new Item(ItemKind.VERDICT, null, o, no, 0));
    return new Path(no, o.probability(), items);
  }

  /** The paths (which agree on their first {@code from} items) as a tree of shared runs. */
  private static Node tree(List<Path> paths, int from) {
    Node n = new Node();
    n.probability = paths.stream().mapToDouble(Path::probability).sum();
    int d = from;
    while (true) {
      final int at = d;
      if (!paths.stream().allMatch(p -> p.items().size() > at)) {
        break;
      }
      Object key = paths.get(0).items().get(at).key();
      if (!paths.stream().allMatch(p -> p.items().get(at).key().equals(key))) {
        break;
      }
      n.items.add(paths.get(0).items().get(at));
      n.merged.add(paths.stream().map(p -> p.items().get(at)).toList());
      d++;
    }
    Map<Object, List<Path>> groups = new LinkedHashMap<>();
    for (Path p : paths) {
      if (p.items().size() > d) {
        groups.computeIfAbsent(p.items().get(d).key(), k -> new ArrayList<>()).add(p);
      }
    }
    for (List<Path> g : groups.values()) {
      n.children.add(tree(g, d));
    }
    return n;
  }

  private static int columns(Node n, int first) {
    n.firstColumn = first;
    int leaves = n.children.isEmpty() ? 1 : 0;
    for (Node c : n.children) {
      leaves += columns(c, first + leaves);
    }
    n.leaves = leaves;
    return leaves;
  }

  /** Accumulates the boxes, bands and arrows while walking the tree. */
  private static final class Layout {
    final List<Box> boxes = new ArrayList<>();
    final List<Band> bands = new ArrayList<>();
    final List<Edge> edges = new ArrayList<>();
    final Map<String, String> boxOf = new LinkedHashMap<>();
    int bottom;

    void place(Node n, int top) {
      int cx = MARGIN + (int) Math.round((n.firstColumn + n.leaves / 2.0) * COL_W) - 20;
      int x = cx - BOX_W / 2;
      int y = top;
      String hook = null;
      int bandTop = 0;
      Box prev = null;
      for (int k = 0; k < n.items.size(); k++) {
        Item it = n.items.get(k);
        String h = it.hook();
        if (!Objects.equals(h, hook)) {
          if (hook != null && !hook.isEmpty()) {
            bands.add(band(x, bandTop, y - GAP + 6 - bandTop, hook));
          }
          hook = h;
          if (!h.isEmpty()) {
            bandTop = y;
            y += BAND_HEAD;
          }
        }
        Box b = box(it, x, y);
        boxes.add(b);
        for (Item same : n.merged.get(k)) {
          boxOf.put(target(same), b.id());
        }
        if (prev == null) {
          n.first = b;
        } else {
          edges.add(straight(prev, b));
        }
        prev = b;
        y += b.h() + GAP;
      }
      if (hook != null && !hook.isEmpty()) {
        bands.add(band(x, bandTop, y - GAP + 6 - bandTop, hook));
      }
      n.last = prev;
      bottom = Math.max(bottom, y);
      for (Node c : n.children) {
        place(c, y + SPLIT - GAP);
        Box to = c.first;
        int from = prev == null ? top : prev.y() + prev.h();
        int mid = from + 14;
        int tx = to.x() + to.w() / 2;
        int ty = to.y() - (startsBand(c) ? BAND_HEAD : 0);
        List<Point> pts =
            prev == null
                ? List.of(new Point(tx, top), new Point(tx, ty))
                : List.of(
                    new Point(cx, from), new Point(cx, mid), new Point(tx, mid), new Point(tx, ty));
        String label =
            n.children.size() > 1
                ? String.format(Locale.ROOT, "p %.4f (%.1f%%)", c.probability, 100 * c.probability)
                : "";
        edges.add(new Edge(pts, label, tx + 6, mid + 14));
      }
    }

    private static boolean startsBand(Node c) {
      return !c.items.isEmpty() && !c.items.get(0).hook().isEmpty();
    }

    private static Band band(int x, int y, int h, String hook) {
      return new Band(x - 10, y, BOX_W + 20, h, hook, hook.startsWith("reply"));
    }

    private static Edge straight(Box a, Box b) {
      int cx = a.x() + a.w() / 2;
      return new Edge(
          List.of(new Point(cx, a.y() + a.h()), new Point(b.x() + b.w() / 2, b.y())), "", 0, 0);
    }
  }

  /** The page id of the step (or reply head, or verdict) an item draws. */
  private static String target(Item it) {
    return switch (it.kind()) {
      case STEP -> stepId(it.outcomeNo(), false, it.index());
      case REPLY_STEP -> stepId(it.outcomeNo(), true, it.index());
      case REPLY_HEAD -> stepId(it.outcomeNo(), true, 0);
      case VERDICT -> "o" + it.outcomeNo();
    };
  }

  private static Box box(Item it, int x, int y) {
    Outcome o = it.outcome();
    return switch (it.kind()) {
      case STEP -> {
        boolean failing = failingStep(o) == it.index() - 1;
        boolean unknown = o.verdict() == Verdict.UNKNOWN && it.index() == o.steps().size();
        yield stepBox(
            it.step(),
            x,
            y,
            failing ? State.FAILING : unknown ? State.UNKNOWN : State.NORMAL,
            stepId(it.outcomeNo(), false, it.index()));
      }
      case REPLY_STEP ->
          stepBox(
              it.step(),
              x,
              y,
              failingReplyStep(o) == it.index() ? State.FAILING : State.NORMAL,
              stepId(it.outcomeNo(), true, it.index()));
      case REPLY_HEAD -> {
        Outcome.Reply r = o.reply();
        List<String> lines = new ArrayList<>();
        lines.add(
            r.reasonCode() == null
                ? "reply back, seen from " + r.seenBySenderFrom()
                : "reply LOST (" + r.reasonCode() + ")");
        lines.addAll(wrap(r.reason(), 2));
        yield sized(
            "b-" + stepId(it.outcomeNo(), true, 0),
            x,
            y,
            Shape.REPLY,
            failingReplyStep(o) == 0 ? State.FAILING : State.NORMAL,
            lines,
            "reply: " + r.reason(),
            stepId(it.outcomeNo(), true, 0),
            null);
      }
      case VERDICT -> {
        List<String> lines = new ArrayList<>();
        lines.add(
            String.format(
                Locale.ROOT, "outcome %d \u00b7 p %.4f", it.outcomeNo(), o.probability()));
        lines.add(verdict(o));
        String rewrites = rewrites(o);
        if (!rewrites.isEmpty()) {
          lines.addAll(wrap(rewrites, 1));
        }
        State s =
            o.verdict() == Verdict.UNKNOWN ? State.UNKNOWN : lost(o) ? State.LOST : State.DELIVERED;
        yield sized(
            "b-o" + it.outcomeNo(),
            x,
            y,
            Shape.VERDICT,
            s,
            lines,
            lines.get(0) + ": " + verdict(o) + (rewrites.isEmpty() ? "" : ", " + rewrites),
            "o" + it.outcomeNo(),
            null);
      }
    };
  }

  /** "delivered (forward)", "REJECTED (NO_ENDPOINTS)", "delivered; reply lost (...)". */
  public static String verdict(Outcome o) {
    String v =
        switch (o.verdict()) {
          case ACCEPT -> "delivered" + (o.delivery().isEmpty() ? "" : " (" + o.delivery() + ")");
          case DROP -> "DROPPED";
          case REJECT -> "REJECTED";
          case UNKNOWN -> "UNKNOWN";
        };
    if (o.reasonCode() != null) {
      v += " (" + o.reasonCode() + ")";
    }
    if (o.delivered() && o.reply() != null && o.reply().reasonCode() != null) {
      v += "; reply lost (" + o.reply().reasonCode() + ")";
    }
    if (o.folded() > 0) {
      v += ", summary of " + o.folded();
    }
    return v;
  }

  /** "DNAT to a:b, masqueraded to c" or "". */
  public static String rewrites(Outcome o) {
    List<String> parts = new ArrayList<>();
    if (o.ipvs() != null) {
      parts.add(
          "IPVS "
              + o.ipvs().virtualServer()
              + (o.ipvs().realServer().isEmpty()
                  ? ": no real server"
                  : " to " + o.ipvs().realServer()));
    }
    if (o.dnat() != null) {
      parts.add("DNAT to " + o.dnat());
    }
    if (o.snat() != null) {
      parts.add((o.masquerade() ? "masqueraded to " : "SNAT to ") + o.snat());
    }
    return String.join(", ", parts);
  }

  private static Box stepBox(Step s, int x, int y, State state, String id) {
    List<String> lines = new ArrayList<>();
    String tooltip;
    if (s.table().isEmpty()) {
      lines.add(title(s.kind()));
      lines.addAll(wrap(s.text(), 2));
      tooltip = s.hook() + ": " + s.text();
    } else {
      lines.add(s.table() + " " + s.chain() + (s.rule() > 0 ? " #" + s.rule() : ""));
      lines.addAll(wrap(s.effect(), 2));
      tooltip =
          s.hook()
              + ": "
              + s.table()
              + " "
              + s.chain()
              + (s.rule() > 0 ? " #" + s.rule() + ": " + s.text() : "")
              + "\n=> "
              + s.effect();
    }
    return sized("b-" + id, x, y, shape(s), state, lines, tooltip, id, s);
  }

  private static Box sized(
      String id,
      int x,
      int y,
      Shape shape,
      State state,
      List<String> lines,
      String tooltip,
      String target,
      Step step) {
    int h = 12 + LINE_H * lines.size();
    if (shape == Shape.ROUTE) {
      h += 8; // room for the diamond's points
    }
    return new Box(id, x, y, BOX_W, h, shape, state, lines, tooltip, target, step);
  }

  private static String title(StepKind k) {
    return switch (k) {
      case PACKET -> "packet";
      case ROUTE -> "routing decision";
      case CONNTRACK -> "conntrack";
      case IPVS -> "IPVS";
      case PARTICIPANT -> "hook function";
      case DELIVERY -> "delivery";
      case BRIDGE -> "bridge";
      case SUMMARY -> "summary";
      default -> k.name().toLowerCase(Locale.ROOT).replace('_', ' ');
    };
  }

  /** How a step is drawn: from its kind, and for targets from the rule's target. */
  static Shape shape(Step s) {
    return switch (s.kind()) {
      case PACKET -> Shape.PACKET;
      case ROUTE -> Shape.ROUTE;
      case CONNTRACK -> Shape.CONNTRACK;
      case IPVS -> Shape.IPVS;
      case PARTICIPANT -> Shape.PARTICIPANT;
      case DELIVERY -> Shape.DELIVERY;
      case POLICY -> Shape.POLICY;
      case CHAIN_RETURN, BRANCH_NOT_TAKEN, UNEVALUATED -> Shape.PASS;
      case BRIDGE, SUMMARY -> Shape.NOTE;
      case TARGET -> isNat(s.text()) ? Shape.NAT : Shape.RULE;
      case RULE_MATCH, JUMP -> Shape.RULE;
    };
  }

  /** Whether a rule's target rewrites addresses (iptables-save or nft syntax). */
  static boolean isNat(String rule) {
    if (rule == null) {
      return false;
    }
    String r = " " + rule + " ";
    for (String t : List.of("DNAT", "SNAT", "MASQUERADE", "REDIRECT")) {
      if (r.contains(" -j " + t + " ")) {
        return true;
      }
    }
    for (String t : List.of("dnat", "snat", "masquerade", "redirect")) {
      if (r.contains(" " + t + " ")) {
        return true;
      }
    }
    return false;
  }

  /** {@code s} over at most {@code max} lines of the box, the last one clipped. */
  static List<String> wrap(String s, int max) {
    String one = s == null ? "" : s.replaceAll("\\s+", " ").strip();
    List<String> out = new ArrayList<>();
    while (!one.isEmpty() && out.size() < max) {
      if (out.size() == max - 1 || one.codePointCount(0, one.length()) <= LINE_CHARS) {
        out.add(Html.clip(one, LINE_CHARS));
        break;
      }
      int cut = one.offsetByCodePoints(0, LINE_CHARS);
      int space = one.lastIndexOf(' ', cut);
      int at = space > LINE_CHARS / 2 ? space : cut;
      out.add(one.substring(0, at).strip());
      one = one.substring(at).strip();
    }
    return out;
  }
}
