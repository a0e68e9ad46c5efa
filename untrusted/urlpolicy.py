"""One policy for URLs that someone else chose.

The trap this module exists for: an allowlist checked with one URL parser
and fetched with another is no allowlist (`http://a\\@b/` is host `b` to one
parser and `a` to another). So a URL is checked by the parser the HTTP
client itself uses (urllib3's, which requests calls), anything that parsers
are known to disagree on is refused outright rather than interpreted
(backslashes, control characters, spaces, userinfo, non-ASCII, percent
signs in the host), and the standard library's parser must still agree on
the host and port. The rebuilt URL is what the caller fetches.

Addresses: a host that is an IP literal must be spelled as the canonical
dotted quad or a bracketed IPv6 address; the decimal, octal, hex and short
spellings that the C resolver also accepts (`2130706433`, `0177.1`,
`0x7f.1`, `127.1`) are refused, because they exist mainly to slip past
checks. Private, loopback, link-local, shared, reserved and metadata
addresses, also when embedded in IPv6 (mapped, compatible, 6to4, Teredo,
NAT64), are refused unless the exact host is on the policy's private list.
Names are checked again where it counts: `untrusted.fetch` resolves them at
connect time and connects only to an address this module permits, so a DNS
name that resolves (or rebinds) to a private address reaches nothing.

Every refusal is a `UrlRefused` (a ValueError): permanent, with a message a
person can read. Nothing here raises anything else for any input.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

MAX_URL_LENGTH = 2000  # the URL fields that store these hold 2000 characters

# Names that resolve to this machine or to a cloud's metadata service on
# common systems; refused by name so that a check without DNS refuses them too.
_LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback", "metadata", "instance-data"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".arpa")

_DOTTED_QUAD = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")  # WHATWG: such a last label makes the host an IPv4 number
_DNS_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class UrlRefused(ValueError):
    """The URL may not be fetched. Permanent: retrying cannot help."""


@dataclass(frozen=True)
class Policy:
    """Who may be reached.

    `hosts`: when set, the URL's host must be one of these exactly (the
    download allowlist); when None, any host with a public address will do.
    `private_hosts`: these exact hosts may be (or resolve to) private and
    loopback addresses; no other host may. `http_hosts`: plain http is
    allowed only for these (test servers on loopback); everything else must
    be https. Host entries are compared normalised (lower case, IPv6
    compressed, no brackets).
    """

    name: str
    hosts: frozenset[str] | None = None
    private_hosts: frozenset[str] = field(default_factory=frozenset)
    http_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        name: str,
        *,
        hosts: Iterable[str] | None = None,
        private_hosts: Iterable[str] = (),
        http_hosts: Iterable[str] = (),
    ) -> Policy:
        """A policy from host lists as settings spell them (any case, IPv6
        with or without brackets)."""
        return cls(
            name=name,
            hosts=None if hosts is None else _host_set(hosts),
            private_hosts=_host_set(private_hosts),
            http_hosts=_host_set(http_hosts),
        )

    def host_allowed(self, host: str) -> bool:
        return self.hosts is None or host in self.hosts

    def address_allowed(self, host: str, address: str) -> bool:
        """May a connection for `host` go to `address`? (The connect-time check.)"""
        return host in self.private_hosts or address_is_public(address)


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed a policy, rebuilt from its parts: fetch `url`."""

    url: str
    scheme: str
    host: str  # normalised: lower case; IPv6 without brackets, compressed
    port: int
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # when the host is an address


def download_policy() -> Policy:
    """Provider result videos: only KIE_DOWNLOAD_HOSTS, which may be private
    (the simulator on loopback) because an operator listed them exactly;
    plain http only for those that are loopback."""
    from django.conf import settings

    hosts = list(settings.KIE_DOWNLOAD_HOSTS)
    return Policy.build("download", hosts=hosts, private_hosts=hosts, http_hosts=[h for h in hosts if _is_loopback(h)])


def webhook_policy() -> Policy:
    """User webhooks: any public https host; the hosts in
    USER_WEBHOOK_PRIVATE_HOSTS may be private and may use plain http."""
    from django.conf import settings

    private = list(getattr(settings, "USER_WEBHOOK_PRIVATE_HOSTS", []))
    return Policy.build("webhook", private_hosts=private, http_hosts=private)


def image_policy() -> Policy:
    """Input-image links the provider will fetch: any public https host."""
    return Policy.build("image")


def check(url: object, policy: Policy, *, resolve: bool = False) -> CheckedUrl:
    """Parse `url` once and check it against `policy`; raise UrlRefused.

    With `resolve`, a host name is also looked up now and refused if any of
    its addresses is not allowed (useful when saving a URL, to tell the user
    at once). `untrusted.fetch` checks the addresses again when connecting,
    whatever was done here.
    """
    if not isinstance(url, str):
        raise UrlRefused("The URL must be text.")
    if not url:
        raise UrlRefused("The URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if not url.isascii():
        raise UrlRefused("The URL must be ASCII (write international names in their xn-- form).")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UrlRefused("The URL contains spaces or control characters.")
    if "\\" in url:
        raise UrlRefused("The URL contains a backslash.")
    try:
        parsed = parse_url(url)  # the parser requests uses to pick the host it connects to
        other = urlsplit(url)
        other_port = other.port
    except (LocationParseError, ValueError):
        raise UrlRefused("The URL cannot be parsed.") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https") or other.scheme.lower() != scheme:
        raise UrlRefused("Only http and https URLs are allowed.")
    if parsed.auth is not None or "@" in (other.netloc or ""):
        raise UrlRefused("The URL may not carry a user name or password.")
    raw_host = parsed.host or ""
    if not raw_host:
        raise UrlRefused("The URL has no host.")
    host, ip = _normalise_host(raw_host)
    if host != _normalise_host(other.hostname or "")[0] or parsed.port != other_port:
        raise UrlRefused("The URL is ambiguous.")  # the two parsers disagree: trust neither
    port = parsed.port if parsed.port is not None else (443 if scheme == "https" else 80)
    if not 0 < port < 65536:
        raise UrlRefused("The URL's port is out of range.")
    if not policy.host_allowed(host):
        raise UrlRefused(f"The host {host} is not on the {policy.name} allowlist.")
    if scheme == "http" and host not in policy.http_hosts:
        raise UrlRefused("The URL must use https.")
    private_ok = host in policy.private_hosts
    if not private_ok:
        if ip is not None and not address_is_public(ip):
            raise UrlRefused(f"The address {host} is private or reserved.")
        if ip is None and (host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES)):
            raise UrlRefused(f"The host {host} is a local name.")
    if resolve and ip is None and not private_ok:
        for address in resolve_host(host, port):
            if not policy.address_allowed(host, address):
                raise UrlRefused(f"The host {host} resolves to a private or reserved address.")
    netloc = f"[{host}]" if isinstance(ip, ipaddress.IPv6Address) else host
    if parsed.port is not None:
        netloc += f":{parsed.port}"
    rebuilt = f"{scheme}://{netloc}{parsed.path or '/'}" + (f"?{parsed.query}" if parsed.query is not None else "")
    return CheckedUrl(url=rebuilt, scheme=scheme, host=host, port=port, ip=ip)


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, as the connection would see them.
    Raises UrlRefused when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRefused(f"The host {host} does not resolve.") from None
    addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
    if not addresses:
        raise UrlRefused(f"The host {host} does not resolve.")
    return addresses


def address_is_public(address: object) -> bool:
    """True only for a globally routable unicast address, judged on the IPv4
    address inside any IPv6 wrapping (mapped, compatible, 6to4, Teredo,
    NAT64). Anything that is not an address is not public."""
    try:
        ip = (
            address
            if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
            else ipaddress.ip_address(address)
        )
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(address_is_public(inner) for inner in embedded)
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_unspecified


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def _normalise_host(raw: str) -> tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """(host, ip): lower case, IPv6 compressed without brackets. Refuses hosts
    whose meaning depends on who reads them."""
    host = raw.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if "%" in host:
        raise UrlRefused("The URL's host may not be percent-encoded or carry an IPv6 zone.")
    if ":" in host:
        try:
            ip6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRefused("The URL's IPv6 address is malformed.") from None
        return ip6.compressed, ip6
    if len(host) > 253 or host.endswith("."):
        raise UrlRefused("The URL's host name is malformed.")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        if not _DOTTED_QUAD.fullmatch(host):
            raise UrlRefused("Write IP addresses as four decimal numbers (no octal, hex or short forms).")
        return host, ipaddress.IPv4Address(host)
    if not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise UrlRefused("The URL's host name is malformed.")
    return host, None


def normal_host(entry: str) -> str:
    """A host as this module compares hosts: lower case, no trailing dot,
    IPv6 without brackets and compressed."""
    entry = entry.strip().lower().rstrip(".")
    if entry.startswith("[") and entry.endswith("]"):
        entry = entry[1:-1]
    try:
        return ipaddress.ip_address(entry).compressed
    except ValueError:
        return entry


def _host_set(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h for h in map(normal_host, hosts) if h)


def _is_loopback(host: str) -> bool:
    host = host.strip().lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
