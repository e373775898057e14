package dev.svcproxy.sync.nftables;

import dev.svcproxy.sync.SyncResult;
import java.util.List;
import java.util.Optional;

/**
 * What one nftables sync sent.
 *
 * @param full whether it was a full sync (read the kernel's table and compared everything)
 * @param transactions the {@code nft -f} inputs it sent, in order: the batches that loaded new
 *     chains, then the one that switched to them (the only one the data path sees change)
 * @param chainsWritten chains added or refilled
 * @param elementsAdded map and set elements added
 * @param elementsDeleted map and set elements deleted (a changed value counts as one of each)
 * @param staleChainsDeleted stale chains deleted
 * @param cleanupFailures transactions refused only for their stale-chain deletions (upstream's
 *     nftables cleanup failures), after which the sync went through without them
 */
public record NftSyncResult(
    boolean full,
    List<String> transactions,
    int chainsWritten,
    int elementsAdded,
    int elementsDeleted,
    int staleChainsDeleted,
    int cleanupFailures)
    implements SyncResult {
  public NftSyncResult {
    transactions = List.copyOf(transactions);
  }

  /** The last transaction: the switch, or the only one. */
  public String switchTransaction() {
    return transactions.isEmpty() ? "" : transactions.get(transactions.size() - 1);
  }

  @Override
  public String summary() {
    return chainsWritten
        + " chains written, "
        + elementsAdded
        + " elements added, "
        + elementsDeleted
        + " deleted, "
        + staleChainsDeleted
        + " stale chains deleted, "
        + transactions.size()
        + (transactions.size() == 1 ? " transaction" : " transactions");
  }

  @Override
  public Optional<Boolean> wasFull() {
    return Optional.of(full);
  }

  @Override
  public int nftablesCleanupFailures() {
    return cleanupFailures;
  }
}
