"""Test helpers that are not fixtures: a loopback TCP proxy whose link can be cut.

`CuttableProxy` sits between a client and an RPC endpoint. Tests use it to simulate an RPC
outage (`down()` refuses and drops every connection) or the nastiest fault for a sender,
a lost response (`drop_responses(n)`: the request reaches the node, the answer never comes
back), and then heal the link with `up()`.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass


@dataclass
class ProxyStats:
    connections: int = 0
    refused: int = 0
    dropped_responses: int = 0


class CuttableProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._down = False
        self._drop_budget = 0
        self._sockets: set[socket.socket] = set()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="cuttable-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- control ---------------------------------------------------------------------
    def down(self) -> None:
        """Cut the link: drop open connections and refuse new ones until up()."""
        with self._lock:
            self._down = True
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)

    def up(self) -> None:
        with self._lock:
            self._down = False
            self._drop_budget = 0

    def drop_responses(self, count: int = 1) -> None:
        """Forward the next requests but swallow `count` responses (closing the client side)."""
        with self._lock:
            self._drop_budget = count

    def close(self) -> None:
        self._closed = True
        _close(self._server)
        self.down()

    def __enter__(self) -> CuttableProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing --------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                refused = self._down
                if refused:
                    self.stats.refused += 1
                else:
                    self.stats.connections += 1
            if refused:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, is_response: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if is_response:
                    with self._lock:
                        drop = self._drop_budget > 0
                        if drop:
                            self._drop_budget -= 1
                            self.stats.dropped_responses += 1
                    if drop:
                        break  # the node answered; the client never hears it
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                _close(sock)
                with self._lock:
                    self._sockets.discard(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
