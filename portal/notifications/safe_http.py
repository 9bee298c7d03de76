"""Webhook URLs that cannot be turned against the server (SSRF).

A webhook URL is accepted (when a portfolio manager saves it) and posted to
(when a notification is delivered) only if:

- it is ``https``, on the default port, with no user name or password;
- its host is a chat provider's webhook host — ``hooks.slack.com``, and
  Microsoft's incoming-webhook and workflow hosts (``*.webhook.office.com``,
  ``*.logic.azure.com``, ``*.environment.api.powerplatform.com``) — or one
  named in ``WEBHOOK_ALLOWED_HOSTS`` (a leading ``*.`` covers subdomains);
- at send time, every address its name resolves to is public: loopback,
  private, link-local (the cloud metadata address 169.254.169.254),
  multicast, reserved and unspecified addresses are refused, IPv4 and IPv6,
  IPv4-mapped IPv6 included.

The POST then connects to the address that was checked (not to the name
again, so a DNS answer that changes between the check and the connection
cannot redirect it), with TLS verified for the host's name, and never follows
a redirect: a 3xx answer is a failed delivery.

``WEBHOOK_ALLOW_PRIVATE_TARGETS`` (default off; never in production) lets the
test suite post to its own receiver on 127.0.0.1 over plain HTTP; the host
must still be allowed by name.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

PROVIDER_HOSTS = (
    "hooks.slack.com",
    "*.webhook.office.com",
    "*.logic.azure.com",
    "*.environment.api.powerplatform.com",
)


class WebhookRefused(ValueError):
    """A webhook URL that Cairn will not post to, and why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def allowed_hosts() -> tuple[str, ...]:
    extra = getattr(settings, "WEBHOOK_ALLOWED_HOSTS", ()) or ()
    return (*PROVIDER_HOSTS, *(h.strip().lower() for h in extra if h.strip()))


def _private_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False))


def _host_allowed(host: str) -> bool:
    for pattern in allowed_hosts():
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def check_url(url: str) -> Target:
    """The parts of an acceptable webhook URL; :class:`WebhookRefused` with
    the reason otherwise. No network access (see :func:`resolve`)."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"Not a valid URL: {exc}.") from exc
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https" and not (parts.scheme == "http" and _private_allowed()):
        raise WebhookRefused("A webhook URL must start with https://.")
    if not host:
        raise WebhookRefused("The webhook URL has no host.")
    if parts.username or parts.password:
        raise WebhookRefused("A webhook URL may not carry a user name or password.")
    default_port = 443 if parts.scheme == "https" else 80
    if port not in (None, default_port) and not _private_allowed():
        raise WebhookRefused("A webhook URL must use the standard HTTPS port.")
    if not _host_allowed(host):
        raise WebhookRefused(
            f"{host} is not a chat provider's webhook host (Slack: "
            "hooks.slack.com; Teams: *.webhook.office.com, *.logic.azure.com). "
            "An administrator can allow more with WEBHOOK_ALLOWED_HOSTS."
        )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, host, port or default_port, path)


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def resolve(target: Target) -> list[str]:
    """The addresses of the target's host, every one of them public (unless
    private targets are allowed); :class:`WebhookRefused` otherwise."""
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefused(f"{target.host} does not resolve: {exc}.") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not _public(address) and not _private_allowed():
            raise WebhookRefused(
                f"{target.host} resolves to {address}, a private, loopback or "
                "link-local address: refused."
            )
        addresses.append(str(address))
    if not addresses:
        raise WebhookRefused(f"{target.host} has no address.")
    return addresses


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, TLS verified for the host's name."""

    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a checked address (test receivers only)."""

    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to a checked webhook URL at a checked address; returns
    the HTTP status (a redirect is returned, never followed). Raises
    :class:`WebhookRefused` for a URL or address that is not allowed and
    ``OSError`` when the receiver cannot be reached."""
    target = check_url(url)
    address = resolve(target)[0]
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target.host, address, target.port, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def mask_url(url: str) -> str:
    """A webhook URL with its secret path hidden: its scheme, host and the
    first characters of its path (enough to tell two apart)."""
    if not url:
        return ""
    parts = urlsplit(url)
    shown = (parts.path or "/")[:12]
    return f"{parts.scheme}://{parts.hostname or ''}{shown}…(masked)"
