package dev.svcproxy.trace.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * One iptables table at one hook, for every backend that has it (iptables-nft first, then legacy):
 * the base chain named after the hook, walked by {@link ChainWalker}. The nat table is {@link
 * IptablesNat}.
 */
record IptablesTable(String table, Hook hook, int priority, List<TableView> views)
    implements HookParticipant {

  IptablesTable {
    views = List.copyOf(views);
  }

  /**
   * The tables iptables registers, at the priorities of iptable_raw, iptable_mangle, iptable_nat,
   * iptable_filter and iptable_security.
   */
  static List<HookParticipant> participants(List<TableView> all) {
    List<HookParticipant> out = new ArrayList<>();
    for (Hook h : List.of(Hook.PREROUTING, Hook.OUTPUT)) {
      out.add(new IptablesTable("raw", h, Priority.RAW, of("raw", all)));
    }
    for (Hook h : Hook.values()) {
      out.add(new IptablesTable("mangle", h, Priority.MANGLE, of("mangle", all)));
    }
    for (Hook h : List.of(Hook.PREROUTING, Hook.OUTPUT)) {
      out.add(new IptablesNat(h, Priority.NAT_DST, of("nat", all)));
    }
    for (Hook h : List.of(Hook.INPUT, Hook.POSTROUTING)) {
      out.add(new IptablesNat(h, Priority.NAT_SRC, of("nat", all)));
    }
    for (Hook h : List.of(Hook.INPUT, Hook.FORWARD, Hook.OUTPUT)) {
      out.add(new IptablesTable("filter", h, Priority.FILTER, of("filter", all)));
      out.add(new IptablesTable("security", h, Priority.SECURITY, of("security", all)));
    }
    return out;
  }

  private static List<TableView> of(String table, List<TableView> all) {
    return all.stream().filter(v -> v.table().equals(table)).toList();
  }

  @Override
  public String name() {
    return "iptables " + table;
  }

  @Override
  public List<Branch> run(List<Branch> in, TraceRun run, List<Branch> done) {
    List<Branch> cur = in;
    for (TableView v : views) {
      if (v.chains().containsKey(hook.name())) {
        cur = ChainWalker.runChain(cur, v, hook, run, done);
      }
    }
    return cur;
  }
}
