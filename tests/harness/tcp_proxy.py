"""A TCP proxy a test can cut and restore: a database outage without touching the database server.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test"
        ...
        proxy.cut()      # every open connection is closed; new ones are accepted and dropped at once
        proxy.restore()  # connections go through again

Why not restart PostgreSQL: the server on 127.0.0.1:5432 is shared by every test run on the
machine (each in its own schema), so stopping it would break other people's tests. For the bot,
a cut proxy looks like a restarted server: its pooled connections die mid-use and new ones fail
until the server is back.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Iterator

from sqlalchemy.engine import make_url


@contextlib.contextmanager
def proxied(database_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The same database's URL, reached through a proxy the test can cut; and the proxy."""
    url = make_url(database_url)
    with TcpProxy(url.host, url.port or 5432) as proxy:
        yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._stopping = False
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        #: connections accepted while cut (and dropped at once)
        self.refused = 0

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self.cut()
        _close(self._listener)  # its shutdown wakes the accept loop (a close alone leaves it blocked)
        self._thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def cut(self) -> None:
        """Close every connection now and drop new ones until `restore()`."""
        with self._lock:
            self._cut = True
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    # -- plumbing ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                cut = self._cut
            if cut:
                self.refused += 1
                _close(client)
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            server = self._connect_upstream(client)
        except OSError:
            _close(client)
            return
        with self._lock:
            cut = self._cut
            if not cut:
                self._open.update((client, server))
        if cut:  # cut while the upstream connection was being made
            _close(client)
            _close(server)
            return
        threading.Thread(target=self._pump, args=(server, client), daemon=True).start()
        self._pump(client, server)

    def _connect_upstream(self, client: socket.socket) -> socket.socket:
        server = socket.create_connection(self.upstream, timeout=5)
        server.settimeout(None)
        return server

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


class ConnectProxy(TcpProxy):
    """An HTTP proxy for HTTPS, as a city's network may put between the bot and Slack: each connection
    opens with `CONNECT host:port`, is answered 200 (or 407 without the credentials `require`d) and then
    carries bytes both ways, the tunnel. `tunnels`: each CONNECT's target and headers, in order."""

    def __init__(self, require: str | None = None):
        super().__init__("", 0)
        self.require = require  # "user:password" for Proxy-Authorization: Basic
        self.tunnels: list[tuple[str, dict[str, str]]] = []

    def _connect_upstream(self, client: socket.socket) -> socket.socket:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                raise OSError("closed before its CONNECT")
            head += chunk
        request, *lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        method, target, _ = request.split(" ", 2)
        headers = {k.title(): v for k, _, v in (line.partition(": ") for line in lines)}
        with self._lock:
            self.tunnels.append((target, headers))
        expected = "Basic " + base64.b64encode(self.require.encode()).decode() if self.require else None
        if method != "CONNECT" or (expected and headers.get("Proxy-Authorization") != expected):
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            raise OSError("refused")
        host, _, port = target.rpartition(":")
        server = socket.create_connection((host, int(port)), timeout=5)
        server.settimeout(None)
        for sock in (client, server):  # a relayed piece goes on at once, not held back until an ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return server


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
