"""Hostile HTTP servers on loopback, for the outbound deadlines: one that trickles its answer byte by byte, one
that answers an endless body as fast as the client takes it. Each is a plain socket server on a thread, so it
says exactly what the test wants, counts what it managed to send, and stops once the client goes away."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SlowServer:
    def __init__(self, answer: "Answer"):
        self.stop = threading.Event()
        self.bytes_sent = 0
        self.connections = 0
        self.requests: list[bytes] = []
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                self.requests.append(_read_request(connection))
                self._answer(self, connection)
            except OSError:
                pass  # the client hung up: what the tests expect of it

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        self.bytes_sent += len(data)

    def close(self) -> None:
        self.stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


Answer = Callable[["SlowServer", socket.socket], None]


def _read_request(connection: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        data = connection.recv(65536)
        if not data:
            break
        received += data
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(body) < int(value):
                data = connection.recv(65536)
                if not data:
                    break
                body += data
    return received


def trickle(head: bytes, then: bytes, *, interval: float = 0.5, lasts: float = 30) -> Answer:
    """Send `head` at once, then `then` one byte every `interval` seconds, for at most `lasts` seconds."""

    def answer(server: SlowServer, connection: socket.socket) -> None:
        server.send(connection, head)
        ends = time.monotonic() + lasts
        for byte in then:
            if server.stop.wait(interval) or time.monotonic() > ends:
                return
            server.send(connection, bytes([byte]))

    return answer


def endless(head: bytes, *, chunk: bytes = b"x" * 65536, at_most: int = 1024**3) -> Answer:
    """Send `head`, then `chunk` after `chunk` as fast as the client reads, up to `at_most` bytes of body."""

    def answer(server: SlowServer, connection: socket.socket) -> None:
        server.send(connection, head)
        sent = 0
        while sent < at_most and not server.stop.is_set():
            server.send(connection, chunk)
            sent += len(chunk)

    return answer


@contextmanager
def slow_server(answer: Answer) -> Iterator[SlowServer]:
    server = SlowServer(answer)
    try:
        yield server
    finally:
        server.close()
