package dev.svcproxy.nftables.text;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits nftables text into tokens. A word runs until whitespace or one of {@code {};,"#@()|}, so
 * addresses with ports ({@code 10.0.0.1:80}), prefixes, ranges and kube-proxy's chain names ({@code
 * endpoint-X-ns/svc/tcp/p80__10.0.0.1/80}) stay one word, while nft's own operators ({@code .},
 * {@code :}, {@code ==}) stand alone between spaces in both nft's listing and knftables' commands.
 */
final class Lexer {
  /** Token kinds. */
  enum Kind {
    WORD,
    STRING,
    PUNCT,
    NEWLINE,
    HANDLE,
    EOF
  }

  /** One token: its text (a string's without quotes), where it starts and ends in the source. */
  record Token(Kind kind, String text, int start, int end, int line, int column) {
    boolean is(String s) {
      return (kind == Kind.WORD || kind == Kind.PUNCT) && text.equals(s);
    }
  }

  private static final String SPECIAL = "{};,\"#@()|";
  private static final Pattern HANDLE = Pattern.compile("#\\s*handle\\s+(\\d+)\\b.*");

  private Lexer() {}

  static List<Token> lex(String file, String src) {
    List<Token> out = new ArrayList<>();
    int i = 0;
    int line = 1;
    int lineStart = 0;
    int n = src.length();
    while (i < n) {
      char c = src.charAt(i);
      if (c == '\n') {
        out.add(new Token(Kind.NEWLINE, "\n", i, i + 1, line, i - lineStart + 1));
        i++;
        line++;
        lineStart = i;
      } else if (c == '\\' && i + 1 < n && src.charAt(i + 1) == '\n') {
        // A continued line is one command to nft.
        i += 2;
        line++;
        lineStart = i;
      } else if (Character.isWhitespace(c)) {
        i++;
      } else if (c == '#') {
        int e = src.indexOf('\n', i);
        if (e < 0) {
          e = n;
        }
        Matcher m = HANDLE.matcher(src.substring(i, e).strip());
        if (m.matches()) {
          out.add(new Token(Kind.HANDLE, m.group(1), i, e, line, i - lineStart + 1));
        }
        i = e;
      } else if (c == '"') {
        int s = i;
        StringBuilder b = new StringBuilder();
        i++;
        while (i < n && src.charAt(i) != '"') {
          if (src.charAt(i) == '\n') {
            throw new NftTextException(file, line, s - lineStart + 1, "unterminated string");
          }
          if (src.charAt(i) == '\\' && i + 1 < n && src.charAt(i + 1) != '\n') {
            i++;
          }
          b.append(src.charAt(i));
          i++;
        }
        if (i >= n) {
          throw new NftTextException(file, line, s - lineStart + 1, "unterminated string");
        }
        i++;
        out.add(new Token(Kind.STRING, b.toString(), s, i, line, s - lineStart + 1));
      } else if (SPECIAL.indexOf(c) >= 0) {
        out.add(new Token(Kind.PUNCT, String.valueOf(c), i, i + 1, line, i - lineStart + 1));
        i++;
      } else {
        int s = i;
        while (i < n) {
          char d = src.charAt(i);
          if (Character.isWhitespace(d) || SPECIAL.indexOf(d) >= 0) {
            break;
          }
          i++;
        }
        out.add(new Token(Kind.WORD, src.substring(s, i), s, i, line, s - lineStart + 1));
      }
    }
    out.add(new Token(Kind.EOF, "", n, n, line, n - lineStart + 1));
    return out;
  }
}
