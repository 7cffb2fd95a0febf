"""Outbound HTTP to addresses users give us (URL import, webhooks): which URLs, which addresses, how to connect.

The one check for both: `outbound_target` takes an http(s) URL with a host and no credentials, resolves the
host once and checks every address it resolves to; the connection then goes to a checked address (TLS still
verified against the host name), so a second DNS answer cannot point the request somewhere internal. A redirect
is never followed by the HTTP client: the caller that follows one (`redirect_url`) checks the new URL again.

Each exchange has one deadline for all of it: connecting, the TLS handshake, sending, the status line, the
headers and the body. Every socket read and send is given only the time left, so a server that trickles a
byte now and then cannot hold the caller past the deadline (a per-read timeout alone is reset by each byte).
"""

import functools
import http.client
import io
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings

logger = logging.getLogger(__name__)

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def address_allowed(address: str) -> bool:
    """Public addresses only (or networks URL_IMPORT_ALLOWED_NETWORKS names); metadata addresses never."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4-mapped (::ffff:a.b.c.d) and 6to4 (2002:AABB:CCDD::/48) addresses reach the IPv4 address they
        # carry, and Python calls 6to4 global whatever it embeds (2002:7f00:1:: is 127.0.0.1): judge that one.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            ip = embedded
    if ip in METADATA_ADDRESSES:
        return False
    for network in settings.URL_IMPORT_ALLOWED_NETWORKS:
        if ip in ipaddress.ip_network(network, strict=False):
            return True
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False  # fec0::/10: deprecated, yet still routed inside some networks, and global to Python
    return ip.is_global and not ip.is_unspecified


class OutboundRefused(Exception):
    """A URL the platform will not send a request to.

    `reason`: "invalid" (not an http or https URL with a host and no credentials), "unresolvable" (its host
    has no address), or "address" (its host resolves to an address address_allowed refuses).
    """

    def __init__(self, *, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class OutboundTarget:
    """Where a checked URL's request goes: `address` is the one to connect to, `path` the request target."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def outbound_target(url: str) -> OutboundTarget:
    """The checked target of an http(s) URL: scheme, host, port, request path and an allowed address to connect
    to. Raises OutboundRefused when the URL is not one, its host does not resolve, or any address it resolves
    to is refused (one refused address is enough: a later DNS answer could pick it)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused(reason="invalid", message="The URL is not valid.")
    if parts.scheme not in {"http", "https"}:
        raise OutboundRefused(reason="invalid", message="Only http and https URLs are allowed.")
    if not parts.hostname or parts.username or parts.password:
        raise OutboundRefused(reason="invalid", message="The URL needs a host and no credentials.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(reason="unresolvable", message=f"The host {host!r} could not be resolved.")
    refused = [address for address in addresses if not address_allowed(address)]
    if refused or not addresses:
        logger.warning("outbound host %s resolves to refused addresses %s", host, refused)
        raise OutboundRefused(
            reason="address", message=f"The host {host!r} resolves to an address requests may not be sent to."
        )
    return OutboundTarget(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirect_url(url: str, location: str) -> str:
    """The URL a redirect from `url` to `location` leads to; check it with outbound_target before following."""
    return urljoin(url, location)


def exchange_timed_out(exc: urllib3.exceptions.HTTPError, deadline: float) -> bool:
    """Whether urllib3's error from a pinned_connection_pool exchange is its deadline passing."""
    # Reads are only ever given the time left, so a read timing out is the deadline passing.
    return deadline_passed(deadline) or isinstance(exc, urllib3.exceptions.ReadTimeoutError)


def time_left(deadline: float) -> float:
    """Seconds until `deadline` (a time.monotonic() value); raises TimeoutError once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("The deadline for this exchange has passed.")
    return remaining


def deadline_passed(deadline: float) -> bool:
    return time.monotonic() >= deadline


class _DeadlineSocketReader(io.RawIOBase):
    """The socket's reads, each allowed only the time left until the deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        super().__init__()
        self._sock = sock
        self._socket_io = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        self._sock.settimeout(time_left(self._deadline))
        return self._socket_io.readinto(buffer)

    def fileno(self) -> int:
        return self._socket_io.fileno()

    def close(self) -> None:
        if not self.closed:
            self._socket_io.close()
        super().close()


class _DeadlineHTTPResponse(http.client.HTTPResponse):
    """http.client's response (status line, headers, body), read through a _DeadlineSocketReader."""

    def __init__(self, sock: socket.socket, *args, deadline: float, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp.close()
        self.fp = io.BufferedReader(_DeadlineSocketReader(sock, deadline))


class _DeadlineConnectionMixin:
    """A urllib3 connection whose connect, TLS handshake, sends and reads (the response through
    _DeadlineHTTPResponse) each get only the time left until `deadline`."""

    def __init__(self, *args, deadline: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.response_class = functools.partial(_DeadlineHTTPResponse, deadline=deadline)

    def _new_conn(self) -> socket.socket:
        remaining = self._connect_time_left()
        if isinstance(self.timeout, int | float):
            remaining = min(remaining, self.timeout)
        self.timeout = remaining
        sock = super()._new_conn()
        # CPython bounds a whole TLS handshake by the socket's timeout: give it what is left after connecting.
        try:
            sock.settimeout(self._connect_time_left())
        except BaseException:
            sock.close()
            raise
        return sock

    def _connect_time_left(self) -> float:
        try:
            return time_left(self.deadline)
        except TimeoutError:
            raise urllib3.exceptions.ConnectTimeoutError(self, "The deadline passed before the connection was made.")

    def send(self, data) -> None:
        if self.sock is not None:
            self.sock.settimeout(time_left(self.deadline))
        super().send(data)


class _DeadlineHTTPConnection(_DeadlineConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _DeadlineHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def pinned_connection_pool(
    *, scheme: str, host: str, port: int, address: str, deadline: float, connect_timeout: float = 10.0
) -> urllib3.HTTPConnectionPool:
    """A pool that connects to `address` while speaking to (and verifying TLS for) `host`, and whose every
    exchange ends by `deadline` (a time.monotonic() value): a read or send past it raises, which urllib3
    reports as one of its HTTPError subclasses (check `deadline_passed` to tell a timeout from a failure)."""
    # Starting values only: each connect, send and read is given the time left when it starts.
    remaining = max(deadline - time.monotonic(), 0.001)
    timeout = urllib3.Timeout(connect=min(connect_timeout, remaining), read=remaining)
    if scheme == "https":
        return _DeadlineHTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=host,
            assert_hostname=host,
            deadline=deadline,
        )
    return _DeadlineHTTPConnectionPool(address, port, timeout=timeout, retries=False, deadline=deadline)


def host_header(host: str, port: int) -> str:
    return host if port in (80, 443) else f"{host}:{port}"
