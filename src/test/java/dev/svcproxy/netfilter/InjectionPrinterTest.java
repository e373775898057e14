package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every string of the rule model that reaches iptables-restore text or iptables argv, carrying each
 * control character, makes printing throw instead of writing a line. A newline in a value would end
 * the rule and start one the manifest never asked for.
 */
class InjectionPrinterTest {

  /** C0 controls, DEL, C1 controls (NEL among them) and the two Unicode line breaks. */
  static List<Character> controls() {
    List<Character> out = new ArrayList<>();
    for (char c = 0; c < 0x20; c++) {
      out.add(c);
    }
    for (char c = 0x7f; c <= 0x9f; c++) {
      out.add(c);
    }
    out.add('\u2028');
    out.add('\u2029');
    return out;
  }

  /**
   * One string of the model: which record component it is, the field name the refusal must give,
   * and a function building a model around a value and printing it (or, for argv, building it).
   */
  record Field(String component, String named, boolean wholeLine, Function<String, Object> print) {
    @Override
    public String toString() {
      return component;
    }
  }

  private static String rule(Arg a) {
    return new Rule("X", List.of(a)).print();
  }

  static List<Field> fields() {
    return List.of(
        new Field("Table.name", "table name", false, v -> new Table(v, List.of()).print()),
        new Field(
            "Table.before",
            "line before table nat",
            true,
            v -> new Table("nat", List.of(v), List.of()).print()),
        new Field(
            "Ruleset.after",
            "line after the tables",
            true,
            v -> new Ruleset(List.of(), List.of(v)).print()),
        new Field(
            "Line.ChainDecl.name",
            "chain name",
            false,
            v -> new Line.ChainDecl(v, "-", "[0:0]").print()),
        new Field(
            "Line.ChainDecl.policy",
            "policy of chain X",
            false,
            v -> new Line.ChainDecl("X", v, null).print()),
        new Field(
            "Line.ChainDecl.counters",
            "counters of chain X",
            false,
            v -> new Line.ChainDecl("X", "ACCEPT", v).print()),
        new Field(
            "Line.RuleLine.raw",
            "rule line of chain X",
            true,
            v -> new Line.RuleLine(Rule.in("X").jump("Y").build(), v).print()),
        new Field(
            "Line.DeleteChain.name", "chain name", false, v -> new Line.DeleteChain(v).print()),
        new Field("Line.Verbatim.text", "kept line", true, v -> new Line.Verbatim(v).print()),
        new Field(
            "Rule.chain", "chain name", false, v -> Rule.in(v).jump("ACCEPT").build().print()),
        new Field(
            "Rule.counters",
            "rule counters",
            false,
            v -> new Rule("X", List.of(), v).printWithCounters()),
        new Field(
            "Arg.Param.flag",
            "match flag",
            false,
            v -> rule(new Arg.Param(false, v, Value.of("10.0.0.1")))),
        new Field(
            "Arg.Param.value.text",
            "value of -s",
            false,
            v -> Rule.in("X").param(true, "-s", v).jump("DROP").build().print()),
        new Field(
            "Arg.Param.value.raw",
            "value of -d as written",
            false,
            v -> rule(new Arg.Param(false, "-d", new Value("10.0.0.1", v)))),
        new Field("Arg.Module.name", "module name", false, v -> rule(new Arg.Module(v))),
        new Field(
            "Arg.Option.module",
            "module of --mark",
            false,
            v -> rule(new Arg.Option(v, false, "--mark", List.of(Value.of("0x1")), false))),
        new Field(
            "Arg.Option.flag",
            "option flag",
            false,
            v -> rule(new Arg.Option("mark", true, v, List.of(Value.of("0x1")), false))),
        new Field(
            "Arg.Option.values.text (comment)",
            "value of --comment",
            false,
            v -> Rule.in("X").comment(v).jump("ACCEPT").build().print()),
        new Field(
            "Arg.Option.values.text (target option)",
            "value of --to-destination",
            false,
            v -> Rule.in("X").jump("DNAT").targetOption("--to-destination", v).build().print()),
        new Field(
            "Arg.Option.values.raw",
            "value of --comment as written",
            false,
            v ->
                rule(
                    new Arg.Option(
                        "comment", false, "--comment", List.of(new Value("c", v)), false))),
        new Field("Arg.Jump.target", "target", false, v -> rule(new Arg.Jump(v, false))),
        new Field("Value.text", "value", false, v -> Value.of(v).print()),
        new Field("Value.raw", "value as written", false, v -> new Value("a", v).print()),
        new Field(
            "TableRule.table",
            "table name",
            false,
            v -> new TableRule(v, Rule.in("INPUT").jump("X").build())));
  }

  /** A plausible value for the field, with the control character in the middle. */
  private static String carrying(Field f, char c) {
    String base =
        switch (f.component()) {
          case "Table.before", "Ruleset.after", "Line.Verbatim.text" -> "# Generated by x";
          case "Line.RuleLine.raw" -> "-A X -j Y";
          case "Rule.counters", "Line.ChainDecl.counters" -> "[0:0]";
          case "Arg.Param.flag" -> "-s";
          case "Arg.Option.flag" -> "--mark";
          default -> "KUBE-SVC-ABC";
        };
    int mid = base.length() / 2;
    return base.substring(0, mid) + c + base.substring(mid);
  }

  /** How the refusal must show the character: written out, never the character itself. */
  private static String escaped(char c) {
    return switch (c) {
      case '\n' -> "\\n";
      case '\r' -> "\\r";
      case '\t' -> "\\t";
      case '\0' -> "\\0";
      default -> String.format("\\u%04X", (int) c);
    };
  }

  static Stream<Arguments> cases() {
    List<Arguments> out = new ArrayList<>();
    for (Field f : fields()) {
      for (char c : controls()) {
        // A tab separates tokens in a line kept whole, as in iptables-save's own input.
        if (!(f.wholeLine() && c == '\t')) {
          out.add(Arguments.of(f, String.format("U+%04X", (int) c), c));
        }
      }
    }
    return out.stream();
  }

  @ParameterizedTest(name = "{0} with {1}")
  @MethodSource("cases")
  void print_controlCharacterInField_refusedNamingFieldAndEscapedValue(
      Field f, String code, char c) {
    String value = carrying(f, c);
    assertThatThrownBy(() -> f.print().apply(value))
        .isInstanceOf(UnsafeTextException.class)
        .hasMessageContaining("refused " + f.named() + " \"")
        .hasMessageContaining(escaped(c))
        .hasMessageContaining(code)
        .satisfies(
            e -> {
              assertThat(e.getMessage().chars().noneMatch(ch -> SafeText.isUnsafe((char) ch)))
                  .as("message holds no raw control character")
                  .isTrue();
              assertThat(((UnsafeTextException) e).value()).isEqualTo(value);
            });
  }

  @Test
  void print_plainValueInEveryField_printsIt() {
    // The same builders accept the value without the control character: each refusal above is
    // about the character, not about the builder.
    for (Field f : fields()) {
      String plain = carrying(f, 'Z').replace("Z", "");
      assertThat(f.print().apply(plain)).as(f.component()).isNotNull();
    }
  }

  @Test
  void fields_coverEveryStringComponentOfTheModel() {
    Set<String> covered = new TreeSet<>();
    for (Field f : fields()) {
      String c = f.component().replaceAll(" \\(.*\\)$", "");
      covered.add(c.replaceAll("\\.(text|raw)$", ""));
      covered.add(c);
    }
    Set<String> strings = new TreeSet<>();
    for (Class<?> k :
        List.of(
            Table.class,
            Ruleset.class,
            Line.ChainDecl.class,
            Line.RuleLine.class,
            Line.DeleteChain.class,
            Line.Verbatim.class,
            Rule.class,
            Arg.Param.class,
            Arg.Module.class,
            Arg.Option.class,
            Arg.Jump.class,
            Value.class,
            TableRule.class)) {
      for (RecordComponent rc : k.getRecordComponents()) {
        if (holdsText(rc.getGenericType())) {
          strings.add(k.getName().replaceFirst(".*\\.", "").replace('$', '.') + "." + rc.getName());
        }
      }
    }
    assertThat(strings).isNotEmpty();
    assertThat(covered).containsAll(strings);
  }

  /** A String, a Value, or a list of them. */
  private static boolean holdsText(Type t) {
    if (t == String.class || t == Value.class) {
      return true;
    }
    return t instanceof ParameterizedType p
        && p.getRawType() == List.class
        && (p.getActualTypeArguments()[0] == String.class
            || p.getActualTypeArguments()[0] == Value.class);
  }

  @Test
  void print_tabBetweenTokensOfAKeptLine_isASeparatorAndPrinted() {
    Line.RuleLine l = new Line.RuleLine(Rule.in("X").jump("Y").build(), "-A X\t-j Y");
    assertThat(l.print()).isEqualTo("-A X\t-j Y");
  }

  @Test
  void print_keptLineThatIsACommand_refused() {
    assertThatThrownBy(() -> new Line.Verbatim("-A INPUT -j ACCEPT").print())
        .isInstanceOf(UnsafeTextException.class)
        .hasMessageContaining("neither blank nor a # comment");
    assertThatThrownBy(() -> new Table("nat", List.of("-A INPUT -j ACCEPT"), List.of()).print())
        .isInstanceOf(UnsafeTextException.class);
  }

  @Test
  void print_spaceOrQuoteInABareName_refused() {
    assertThatThrownBy(() -> Rule.in("X -j ACCEPT").build())
        .isInstanceOf(UnsafeTextException.class)
        .hasMessageContaining("chain name \"X -j ACCEPT\"");
    assertThatThrownBy(() -> Rule.in("X").jump("Y\"").build())
        .isInstanceOf(UnsafeTextException.class)
        .hasMessageContaining("target \"Y\\\"\"");
    assertThatThrownBy(() -> new Line.ChainDecl("", "-", null))
        .isInstanceOf(UnsafeTextException.class)
        .hasMessageContaining("empty");
  }

  @Test
  void print_longRefusedValue_isCutInTheMessage() {
    String v = "a\n".repeat(10_000);
    assertThatThrownBy(() -> Rule.in("X").comment(v).build())
        .hasMessageContaining("(20000 chars)")
        .satisfies(e -> assertThat(e.getMessage()).hasSizeLessThan(400));
  }
}
