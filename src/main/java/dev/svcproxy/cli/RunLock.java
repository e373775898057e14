package dev.svcproxy.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One `svcproxy run` per network namespace: an OS file lock on a file named after the namespace's
 * inode, holding the owner's pid. The kernel drops the lock when its process dies, however it dies,
 * so a file left by a dead run never blocks the next one.
 */
final class RunLock implements AutoCloseable {
  /** Where run keeps its locks unless told otherwise. */
  static final Path DEFAULT_DIR = Path.of("/run/svcproxy");

  private final FileChannel channel;
  private final FileLock lock;

  private RunLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  /** Locks this process's network namespace in {@code dir}, or says who holds it (exit 2). */
  static RunLock acquire(Path dir) {
    return acquire(dir, currentNetns());
  }

  /** Locks {@code key} (e.g. "net-4026531840") in {@code dir}. */
  static RunLock acquire(Path dir, String key) {
    Path file = dir.resolve(key + ".lock");
    FileChannel ch;
    try {
      Files.createDirectories(dir);
      // No TRUNCATE_EXISTING: the holder's pid must survive until we know we are the holder.
      ch =
          FileChannel.open(
              file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new CliException(
          ExitCodes.USAGE, "cannot open the run lock " + file + " (run needs root): " + e);
    }
    FileLock l;
    try {
      l = ch.tryLock();
    } catch (OverlappingFileLockException e) {
      // This very process holds it already.
      l = null;
    } catch (IOException e) {
      close(ch);
      throw new CliException(ExitCodes.USAGE, "cannot lock " + file + ": " + e.getMessage());
    }
    if (l == null) {
      String holder = readPid(ch);
      close(ch);
      throw new CliException(
          ExitCodes.USAGE,
          "another svcproxy run (pid "
              + holder
              + ") is already running in this network namespace ("
              + key
              + "); it holds "
              + file);
    }
    try {
      ch.truncate(0);
      ch.write(
          ByteBuffer.wrap(
              (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)),
          0);
      ch.force(false);
    } catch (IOException e) {
      close(ch);
      throw new CliException(ExitCodes.USAGE, "cannot write " + file + ": " + e.getMessage());
    }
    return new RunLock(ch, l);
  }

  /** "net-" and the inode of this process's network namespace, which names it on this host. */
  static String currentNetns() {
    try {
      // The link reads "net:[4026531840]".
      String link = Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString();
      return "net-" + link.replaceAll("\\D", "");
    } catch (IOException e) {
      throw new CliException(
          ExitCodes.USAGE, "cannot read /proc/self/ns/net (run needs Linux): " + e.getMessage());
    }
  }

  private static String readPid(FileChannel ch) {
    try {
      ByteBuffer b = ByteBuffer.allocate(32);
      int n = ch.read(b, 0);
      String s = n <= 0 ? "" : new String(b.array(), 0, n, StandardCharsets.US_ASCII).strip();
      return s.matches("\\d+") ? s : "unknown";
    } catch (IOException e) {
      return "unknown";
    }
  }

  private static void close(FileChannel ch) {
    try {
      ch.close();
    } catch (IOException e) {
      // Nothing held: closing a channel we failed to use cannot matter.
    }
  }

  /**
   * Releases the lock. The file stays: deleting it would let a process that opened it a moment ago
   * lock an unlinked file while a third locks a new one.
   */
  @Override
  public void close() {
    try {
      lock.release();
    } catch (IOException e) {
      // The kernel releases it when the channel closes anyway.
    }
    close(channel);
  }
}
