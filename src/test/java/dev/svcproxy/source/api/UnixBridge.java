package dev.svcproxy.source.api;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Relays a unix socket to 127.0.0.1:port of this (the root) network namespace, so that a process in
 * a lab namespace reaches the test's mock API server with no address or route added to the root
 * namespace: in the lab namespace, socat listens on its own 127.0.0.1 and connects to the socket
 * file. Each connection is relayed as it comes; a refused upstream closes it.
 */
public final class UnixBridge implements AutoCloseable {
  private final Path socket;
  private final ServerSocketChannel server;
  private final int port;
  private final List<SocketChannel> open = new ArrayList<>();
  private final Thread acceptor;

  private UnixBridge(Path socket, int port) throws IOException {
    this.socket = socket;
    this.port = port;
    Files.deleteIfExists(socket);
    server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    acceptor = Thread.ofVirtual().name("unix-bridge").start(this::acceptLoop);
  }

  /** Relays {@code socket} to 127.0.0.1:{@code port}. */
  public static UnixBridge start(Path socket, int port) throws IOException {
    return new UnixBridge(socket, port);
  }

  /** The socat argv that, run in a lab namespace, listens on its 127.0.0.1:{@code localPort}. */
  public List<String> socatArgv(int localPort) {
    return List.of(
        "socat",
        "TCP-LISTEN:" + localPort + ",bind=127.0.0.1,fork,reuseaddr",
        "UNIX-CONNECT:" + socket);
  }

  private void acceptLoop() {
    while (server.isOpen()) {
      SocketChannel in;
      try {
        in = server.accept();
      } catch (IOException e) {
        return;
      }
      SocketChannel out;
      try {
        out = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      } catch (IOException e) {
        // The API server is down: the client sees its connection closed, as by a refused one.
        closeQuietly(in);
        continue;
      }
      synchronized (open) {
        open.add(in);
        open.add(out);
      }
      Thread.ofVirtual().start(() -> pump(in, out));
      Thread.ofVirtual().start(() -> pump(out, in));
    }
  }

  private static void pump(SocketChannel from, SocketChannel to) {
    ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
    try {
      while (from.read(buf) >= 0) {
        buf.flip();
        while (buf.hasRemaining()) {
          to.write(buf);
        }
        buf.clear();
      }
    } catch (IOException e) {
      // Either side went away.
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  private static void closeQuietly(SocketChannel c) {
    try {
      c.close();
    } catch (IOException e) {
      // Already gone.
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    acceptor.interrupt();
    synchronized (open) {
      open.forEach(UnixBridge::closeQuietly);
    }
    Files.deleteIfExists(socket);
  }
}
