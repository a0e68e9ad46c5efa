"""The only module that sends HTTP to a user's URL (their webhook).

A user's URL is untrusted: it must not reach this machine, the private
network or a cloud metadata address (SSRF). The policy: http(s) only, no
credentials in the URL, https unless the host is listed in
USER_WEBHOOK_PRIVATE_HOSTS, and every address the host resolves to public
unless listed. The connection then goes to the address we checked (the
`Host` header and TLS name stay the URL's), so a DNS answer that changes
between check and connect (rebinding) cannot move it. No redirects are
followed.

This is a small stand-in for the project-wide untrusted-URL policy
(`untrusted/urlpolicy.py`, `untrusted/fetch.py`); when that lands, these two
functions become thin calls into it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter


class UrlRefused(Exception):
    """The URL breaks the policy; the message says why, for the user."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    address: str  # the checked IP the connection goes to


def _listed(host: str) -> bool:
    return host.lower().strip("[]") in {h.lower().strip("[]") for h in settings.USER_WEBHOOK_PRIVATE_HOSTS}


def check_webhook_url(url: str, *, resolve: bool = True) -> Target:
    """Check `url` against the policy and return where to connect.
    Raises UrlRefused."""
    if len(url) > 2000:
        raise UrlRefused(_("The webhook URL is too long."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(_("The webhook URL is not a valid web address.")) from exc
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise UrlRefused(_("The webhook URL must be an http(s) address."))
    if parts.username is not None or parts.password is not None or "\\" in url or any(c.isspace() for c in url):
        raise UrlRefused(_("The webhook URL must not carry credentials or odd characters."))
    listed = _listed(host)
    if parts.scheme != "https" and not listed:
        raise UrlRefused(_("The webhook URL must start with https://."))
    port = port or (443 if parts.scheme == "https" else 80)
    if not resolve:
        return Target(url=url, host=host, port=port, address="")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(_("The webhook host %(host)s cannot be found.") % {"host": host}) from exc
    addresses = [info[4][0] for info in infos]
    if not listed:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise UrlRefused(_("The webhook URL must point at a public address."))
    return Target(url=url, host=host, port=port, address=addresses[0])


class _PinnedAdapter(HTTPAdapter):
    """Connects to the checked address, keeping the URL's host name for the
    Host header, SNI and certificate checks."""

    def __init__(self, target: Target):
        self.target = target
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        conn = super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        address = self.target.address
        conn.host = address
        if urlsplit(request.url).scheme == "https":
            conn.conn_kw["server_hostname"] = self.target.host
            conn.assert_hostname = self.target.host
        return conn


@dataclass(frozen=True)
class Sent:
    status: int | None  # None: no answer
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.url.startswith("https:") else 80
    return host if target.port == default else f"{host}:{target.port}"


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Sent:
    """POST `body` to a user's URL, checked again now (DNS may have changed
    since it was saved). Never raises for the network or the policy."""
    try:
        target = check_webhook_url(url)
    except UrlRefused as exc:
        return Sent(status=None, error=str(exc))
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment
    adapter = _PinnedAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        with session.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "VeoStudio-Webhooks/1",
                "Host": _host_header(target),
                **headers,
            },
            timeout=(settings.USER_WEBHOOK_CONNECT_TIMEOUT, settings.USER_WEBHOOK_READ_TIMEOUT),
            allow_redirects=False,
            stream=True,  # the answer's body is never read: a huge one costs nothing
        ) as response:
            return Sent(status=response.status_code)
    except requests.RequestException as exc:
        return Sent(status=None, error=type(exc).__name__)
    finally:
        session.close()
