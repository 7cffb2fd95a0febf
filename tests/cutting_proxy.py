"""A TCP proxy that cuts a connection mid-request, as a dropped mobile or Wi-Fi link would."""

import socket
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress

_BLOCK = 16 * 1024


class CuttingProxy:
    """Forwards connections to 127.0.0.1:`upstream_port`; once `cut_after` bytes in all have gone towards the
    server, the connection carrying them is cut there (both sides closed). One cut; after it all passes whole."""

    def __init__(self, upstream_port: int, *, cut_after: int):
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.cuts = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with closing(client), closing(socket.create_connection(("127.0.0.1", self.upstream_port))) as upstream:
            back = threading.Thread(target=self._pump_back, args=(upstream, client), daemon=True)
            back.start()
            while True:
                try:
                    data = client.recv(_BLOCK)
                except OSError:
                    break
                if not data:
                    with suppress(OSError):
                        upstream.shutdown(socket.SHUT_WR)
                    break
                with self._lock:
                    before = self.forwarded
                    cut_here = self.cuts == 0 and before + len(data) > self.cut_after
                    self.cuts += cut_here
                    self.forwarded += self.cut_after - before if cut_here else len(data)
                if cut_here:
                    upstream.sendall(data[: self.cut_after - before])
                    for end in (client, upstream):
                        with suppress(OSError):
                            end.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    upstream.sendall(data)
                except OSError:
                    break
            back.join(60)  # the answer comes back before both ends close

    @staticmethod
    def _pump_back(upstream: socket.socket, client: socket.socket) -> None:
        while True:
            try:
                data = upstream.recv(_BLOCK)
                if not data:
                    client.shutdown(socket.SHUT_WR)
                    return
                client.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._closed = True
        self._listener.close()


@contextmanager
def cutting_proxy(upstream_port: int, *, cut_after: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream_port, cut_after=cut_after)
    try:
        yield proxy
    finally:
        proxy.close()
