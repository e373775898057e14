package dev.svcproxy.sync.iptables;

import dev.svcproxy.model.Endpoint;
import dev.svcproxy.model.ProxyState;
import dev.svcproxy.model.ServicePortInfo;
import dev.svcproxy.model.ServicePortName;
import dev.svcproxy.netfilter.IptablesCodec;
import dev.svcproxy.netfilter.Rule;
import dev.svcproxy.render.iptables.ChainNames;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads iptables-restore's complaints: which input line failed, and whose rule it was. */
public final class RestoreErrors {
  /**
   * The three ways iptables-restore names a line: "Error occurred at line: N" (a rule it could not
   * parse), "line N: RULE_APPEND failed (...)" (iptables-nft, the rule the kernel refused) and
   * "line N failed" (iptables-legacy, the COMMIT of the table the kernel refused).
   */
  private static final Pattern LINE =
      Pattern.compile("(?:Error occurred at line: |\\bline )(\\d+)");

  private RestoreErrors() {}

  /** The 1-based input line iptables-restore blames, if it names one. */
  public static OptionalInt failedLine(String stderr) {
    Matcher m = LINE.matcher(stderr);
    if (!m.find()) {
      return OptionalInt.empty();
    }
    try {
      return OptionalInt.of(Integer.parseInt(m.group(1)));
    } catch (NumberFormatException e) {
      return OptionalInt.empty();
    }
  }

  /**
   * The service port a restore line belongs to: the owner of the chain it declares or appends to,
   * of the chain a top-level rule jumps to, or the service port its comment starts with (the filter
   * rules for services without endpoints jump nowhere of ours). Empty for the fixed rules, COMMIT
   * and stale-chain deletions.
   */
  public static Optional<ServicePortName> owner(String line, ProxyState state) {
    Map<String, ServicePortName> chains = chainOwners(state);
    if (line.startsWith(":")) {
      String name = line.substring(1).split(" ", 2)[0];
      return Optional.ofNullable(chains.get(name));
    }
    if (!line.startsWith("-A ") && !line.startsWith("-I ")) {
      return Optional.empty();
    }
    String[] f = line.split(" ", 4);
    if (line.startsWith("-I ") && f.length == 4 && f[2].matches("\\d+")) {
      // "-I CHAIN N RULE", a partial sync's insertion by position.
      line = "-A " + f[1] + " " + f[3];
    }
    Rule rule;
    try {
      rule = IptablesCodec.parseRule(line.startsWith("-I ") ? "-A " + line.substring(3) : line);
    } catch (RuntimeException e) {
      return Optional.empty();
    }
    ServicePortName own = chains.get(rule.chain());
    if (own != null) {
      return Optional.of(own);
    }
    ServicePortName target = chains.get(rule.target());
    if (target != null) {
      return Optional.of(target);
    }
    String comment = rule.comment().orElse(null);
    if (comment == null) {
      return Optional.empty();
    }
    ServicePortName best = null;
    for (ServicePortName spn : state.services().keySet()) {
      String s = spn.toString();
      if ((comment.equals(s) || comment.startsWith(s + " "))
          && (best == null || s.length() > best.toString().length())) {
        best = spn;
      }
    }
    return Optional.ofNullable(best);
  }

  /** Every per-service chain name the renderer may use for {@code state}, with its owner. */
  static Map<String, ServicePortName> chainOwners(ProxyState state) {
    Map<String, ServicePortName> out = new HashMap<>();
    for (ServicePortInfo svc : state.services().values()) {
      ServicePortName spn = svc.name();
      String name = spn.toString();
      String proto = svc.protocol().lower();
      out.put(ChainNames.svc(name, proto), spn);
      out.put(ChainNames.svl(name, proto), spn);
      out.put(ChainNames.ext(name, proto), spn);
      out.put(ChainNames.fw(name, proto), spn);
      for (Endpoint ep : state.endpointsOf(spn)) {
        out.put(ChainNames.sep(name, proto, ep.address()), spn);
      }
    }
    return out;
  }
}
