"""Outbound HTTP to addresses users give us (URL import, webhooks): which addresses, and how to connect.

A host is resolved once, every address is checked, and the connection then goes
to a checked address (TLS still verified against the host name), so a second
DNS answer cannot point the request somewhere internal.
"""

import ipaddress

import certifi
import urllib3
from django.conf import settings

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


def pinned_connection_pool(
    *, scheme: str, host: str, port: int, address: str, timeout: urllib3.Timeout
) -> urllib3.HTTPConnectionPool:
    """A pool that connects to `address` while speaking to (and verifying TLS for) `host`."""
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=host,
            assert_hostname=host,
        )
    return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)


def host_header(host: str, port: int) -> str:
    return host if port in (80, 443) else f"{host}:{port}"
