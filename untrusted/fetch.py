"""Fetching an untrusted URL with the policy enforced where it counts.

`urlpolicy.check` judges the URL's text; this module enforces the same
policy on what actually happens: every redirect hop is checked again as a
new URL, and every connection resolves its host itself, refuses the host if
any of its addresses is not allowed, and connects only to an address it
checked (so DNS rebinding between check and connect reaches nothing, and a
refused host never sees a single packet of a request). Proxies from the
environment are ignored: through a proxy the peer would be the proxy.

    with fetch.open_stream(url, policy=urlpolicy.download_policy()) as response:
        ...

Errors: `UrlRefused` (permanent: the URL or a hop or an address is not
allowed, or cannot be parsed) and `FetchError` (network trouble; its
`retryable` says whether trying later can help). Nothing else escapes for
any URL.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from .urlpolicy import Policy, UrlRefused, check, normal_host

DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read (between bytes)
MAX_REDIRECTS = 3


class FetchError(Exception):
    """The fetch failed on the network or the redirect chain."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def open_stream(
    url: str,
    *,
    policy: Policy,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    max_redirects: int = MAX_REDIRECTS,
    session: requests.Session | None = None,
) -> requests.Response:
    """Send one request to `url` (streaming; close the response, e.g. with
    `with`) and return the answer, whatever its status.

    GET redirects are followed up to `max_redirects`, each hop checked
    against `policy` as a new URL; other methods' redirects are returned as
    they are (a webhook must not be bounced elsewhere). Raises UrlRefused or
    FetchError.
    """
    http = session or guarded_session(policy)
    for _hop in range(max_redirects + 1):
        checked = check(url, policy)
        try:
            response = http.request(
                method,
                checked.url,
                headers=dict(headers or {}),
                data=data,
                stream=True,
                timeout=timeout,
                allow_redirects=False,
            )
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL) as exc:
            # A malformed answer (say, two different Content-Lengths) or a URL
            # the client cannot use: the same again next time.
            raise FetchError(
                f"{checked.host} sent an answer we cannot use ({type(exc).__name__})", retryable=False
            ) from None
        except requests.RequestException as exc:
            raise FetchError(f"Could not reach {checked.host} ({type(exc).__name__})", retryable=True) from None
        if not (response.is_redirect and method == "GET"):
            return response
        location = response.headers.get("Location", "")
        response.close()
        if not location:
            raise FetchError("A redirect without a Location", retryable=False)
        try:
            url = urljoin(checked.url, location)
        except ValueError:
            raise UrlRefused("A redirect to a URL that cannot be parsed.") from None
    raise FetchError("Too many redirects", retryable=False)


def guarded_session(policy: Policy) -> requests.Session:
    """A requests session whose connections obey `policy` (see the module
    docstring). Callers that fetch many URLs under one policy may keep one."""
    session = requests.Session()
    session.trust_env = False  # no proxies, no .netrc credentials from the environment
    adapter = _GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: Policy):
        self.policy = policy
        super().__init__(max_retries=0)  # retries are the caller's decision, never automatic

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise UrlRefused("Untrusted URLs are never fetched through a proxy.")


def _pool_classes(policy: Policy) -> dict[str, type]:
    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self, policy)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


def _connect(conn: HTTPConnection, policy: Policy) -> socket.socket:
    """Resolve, check every address, connect to a checked one; then make
    sure the socket's peer is that address. TLS (SNI and certificate) still
    uses the host name, which urllib3 keeps on the connection."""
    host = normal_host(conn.host)
    if not policy.host_allowed(host):
        raise UrlRefused(f"The host {host} is not on the {policy.name} allowlist.")
    try:
        infos = socket.getaddrinfo(host, conn.port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NameResolutionError(host, conn, socket.gaierror(str(exc))) from None
    addresses = [str(info[4][0]).split("%", 1)[0] for info in infos]
    refused = [a for a in addresses if not policy.address_allowed(host, a)]
    if refused or not addresses:
        # One private answer is enough to refuse the name: mixed answers are
        # how rebinding attacks get a second chance.
        raise UrlRefused(f"The host {host} resolves to a private or reserved address.")
    last_error: Exception | None = None
    for address in addresses:
        try:
            sock = urllib3_connection.create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            last_error = ConnectTimeoutError(conn, f"Connection to {host} timed out.")
            last_error.__cause__ = exc
            continue
        except OSError as exc:
            last_error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
            continue
        peer = str(sock.getpeername()[0]).split("%", 1)[0]
        if not policy.address_allowed(host, peer):
            sock.close()
            raise UrlRefused(f"The host {host} connected to a private or reserved address.")
        return sock
    raise last_error or NewConnectionError(conn, f"No address to connect to for {host}")
