"""Image URLs from catalog rows, fetched without becoming a server-side request forgery.

Every hop is checked before it is made: http(s) only; the host is resolved and every address
must be public (or inside a network the settings allow); the connection goes to the address
that was checked, so DNS cannot swap it afterwards; redirects are followed by hand, each one
checked again, at most ``max_redirects`` of them; the whole download has one deadline and a
byte limit.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from backend.errors import InvalidImage, PayloadTooLarge
from backend.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class UrlPolicy:
    """Limits on fetching image URLs (``VITRINE_URL_*`` settings)."""

    timeout_s: float = 10.0
    max_redirects: int = 3
    allow: Sequence[Network] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        """The policy the settings describe."""
        return cls(
            timeout_s=settings.url_timeout_s,
            max_redirects=settings.url_max_redirects,
            allow=tuple(settings.allowed_networks()),
        )

    def permits(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """Whether ``address`` may be contacted: public, or in an allowed network."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        if any(address in network for network in self.allow):
            return True
        return address.is_global and not address.is_multicast


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the vetted address while naming the host in the request."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the vetted address; the certificate is checked against the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=self.host
        )


def _vetted_address(url: str, parts: urllib.parse.SplitResult, policy: UrlPolicy) -> str:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidImage(f"image URL {url!r} must be http(s)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise InvalidImage(f"image URL {url!r}: host not found") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:  # every one: a name may resolve to a public and a private one
        if not policy.permits(address):
            raise InvalidImage(f"image URL {url!r} points at a non-public address ({address})")
    return str(addresses[0])


def fetch_url(url: str, *, max_bytes: int, policy: UrlPolicy | None = None) -> bytes:
    """The body of an image URL, within the policy's limits; InvalidImage or
    PayloadTooLarge saying what went wrong."""
    policy = policy or UrlPolicy()
    deadline = time.monotonic() + policy.timeout_s
    current = url
    for _ in range(policy.max_redirects + 1):
        parts = urllib.parse.urlsplit(current)
        address = _vetted_address(current, parts, policy)
        connection_type = (
            _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        )
        assert parts.hostname is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(url, policy)
        connection = connection_type(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            address,
            remaining,
        )
        try:
            target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            connection.request("GET", target, headers={"User-Agent": "vitrine-loader"})
            response = connection.getresponse()
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise InvalidImage(f"image URL {url!r}: redirect without a Location")
                current = urllib.parse.urljoin(current, location)
                continue
            if response.status != 200:
                raise InvalidImage(f"image URL {url!r} answered HTTP {response.status}")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise PayloadTooLarge(f"image URL {url!r} is larger than {max_bytes} bytes")
            return _read_body(response, url, max_bytes=max_bytes, deadline=deadline)
        except TimeoutError:
            raise _timed_out(url, policy) from None
        except (OSError, http.client.HTTPException) as exc:
            raise InvalidImage(f"image URL {url!r} could not be fetched: {exc}") from None
        finally:
            connection.close()
    raise InvalidImage(f"image URL {url!r} redirected more than {policy.max_redirects} times")


def _timed_out(url: str, policy: UrlPolicy) -> InvalidImage:
    return InvalidImage(f"image URL {url!r} timed out after {policy.timeout_s:g} s")


def _read_body(
    response: http.client.HTTPResponse, url: str, *, max_bytes: int, deadline: float
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"image URL {url!r} is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:  # a server dripping bytes never hits the socket timeout
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)
