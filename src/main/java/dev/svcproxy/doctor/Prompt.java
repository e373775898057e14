package dev.svcproxy.doctor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A shell command pasted at a prompt, parsed once for everything the doctor asks of it: the program
 * and its arguments (without {@code sudo}, {@code env} and {@code VAR=value} in front), the
 * iptables table and chain it lists, and the filters its output went through ({@code | grep WORD},
 * {@code | head}). {@code grep} is set only when the filter keeps lines holding a plain substring
 * ({@code grep [-i] [-F] WORD}, nothing else after the pipe).
 */
public record Prompt(
    String text,
    String program,
    List<String> args,
    String table,
    String chain,
    List<String> filters,
    String grep,
    boolean grepIgnoreCase) {
  public Prompt {
    args = List.copyOf(args);
    filters = List.copyOf(filters);
  }

  /** Parses the command of a prompt line (as {@code Prompts.command} returns it). */
  public static Prompt parse(String command) {
    String[] stages = command.split("\\|");
    List<String> w = words(stages[0]);
    String prog = w.isEmpty() ? "" : w.get(0).substring(w.get(0).lastIndexOf('/') + 1);
    List<String> args = w.isEmpty() ? List.of() : w.subList(1, w.size());
    boolean ipt = prog.matches("iptables(-nft|-legacy)?(-save)?");
    String table = null;
    String chain = null;
    if (ipt) {
      for (int i = 0; i < args.size(); i++) {
        String a = args.get(i);
        if ((a.equals("-t") || a.equals("--table")) && i + 1 < args.size()) {
          table = args.get(++i);
        } else if (a.startsWith("-t") && a.length() > 2 && !a.startsWith("--")) {
          table = a.substring(2);
        } else if ((a.matches("-[a-zA-Z]*[LS]") || a.equals("--list") || a.equals("--list-rules"))
            && i + 1 < args.size()
            && !args.get(i + 1).startsWith("-")) {
          chain = args.get(++i);
        }
      }
      if (!prog.endsWith("-save") && table == null) {
        table = "filter"; // iptables -L / -S list the filter table unless told otherwise
      }
    }
    List<String> filters = new ArrayList<>();
    for (int i = 1; i < stages.length; i++) {
      filters.add(stages[i].strip());
    }
    String grep = null;
    boolean ignoreCase = false;
    if (stages.length == 2) {
      List<String> g = words(stages[1]);
      if (!g.isEmpty() && g.get(0).equals("grep")) {
        String pattern = null;
        boolean ok = true;
        for (int i = 1; i < g.size(); i++) {
          String a = g.get(i);
          if (a.equals("-i")) {
            ignoreCase = true;
          } else if (a.equals("-F") || a.startsWith("--color")) {
            continue;
          } else if (a.startsWith("-") || pattern != null) {
            ok = false; // -v, -E, -w, two patterns: what it keeps is not a plain substring
          } else {
            pattern = a;
          }
        }
        if (ok && pattern != null && pattern.matches("[A-Za-z0-9_.:/-]+")) {
          grep = pattern;
        }
      }
    }
    return new Prompt(command, prog, args, table, chain, filters, grep, grep != null && ignoreCase);
  }

  /** Whether the output went through a pipe (so it may lack lines of the whole state). */
  public boolean piped() {
    return !filters.isEmpty();
  }

  /** Whether the program is iptables or iptables-save (any backend). */
  public boolean iptables() {
    return program.matches("iptables(-nft|-legacy)?(-save)?");
  }

  /** Whether the program is an iptables-save. */
  public boolean save() {
    return iptables() && program.endsWith("-save");
  }

  /** Whether every line holding {@code name} passes the grep (so a chain so named is whole). */
  public boolean grepKeeps(String name) {
    if (grep == null) {
      return false;
    }
    return grepIgnoreCase
        ? name.toLowerCase(Locale.ROOT).contains(grep.toLowerCase(Locale.ROOT))
        : name.contains(grep);
  }

  /** The words of {@code s}, unquoted, without {@code sudo}, {@code env}, {@code VAR=value}. */
  private static List<String> words(String s) {
    List<String> out = new ArrayList<>();
    for (String w : s.strip().split("\\s+")) {
      String u = w.replaceAll("^['\"]|['\"]$", "");
      if (!u.isEmpty()) {
        out.add(u);
      }
    }
    while (!out.isEmpty()
        && (out.get(0).equals("sudo") || out.get(0).equals("env") || out.get(0).contains("="))) {
      out.remove(0);
    }
    return out;
  }
}
