"""The one untrusted-URL policy against hostile URLs.

Real loopback servers count every connection they accept. A server that
no policy allows (127.0.0.2, and 127.0.0.1/::1 under the webhook policy
with no private hosts) must see zero connections whatever the spelling of
its address, the redirect chain or the DNS answer; positive controls show
the same servers are reachable when a policy allows them, so the zeros
mean something.
"""

import contextlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from untrusted import fetch, urlpolicy
from untrusted.urlpolicy import Policy, UrlRefused, address_is_public, check

from .conftest import submit

# --- servers that count connections -----------------------------------------


class Counting(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, family=socket.AF_INET):
        self.address_family = family
        self.connections = 0
        super().__init__(address, Counting)

    def verify_request(self, request, client_address) -> bool:
        self.connections += 1
        return True


def start(host: str, family=socket.AF_INET) -> CountingServer:
    server = CountingServer((host, 0), family)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def servers():
    found = {"allowed": start("127.0.0.1"), "forbidden": start("127.0.0.2"), "loop": start("127.0.0.1")}
    with contextlib.suppress(OSError):  # no IPv6 loopback on this machine: those cases are left out
        found["v6"] = start("::1", socket.AF_INET6)
    yield found
    for server in found.values():
        server.shutdown()


def port(server: CountingServer) -> int:
    return server.server_address[1]


DOWNLOAD = Policy.build("download", hosts=["127.0.0.1"], private_hosts=["127.0.0.1"], http_hosts=["127.0.0.1"])
PUBLIC_ONLY = Policy.build("webhook")  # no private hosts: nothing on this machine may be reached


# --- spellings -----------------------------------------------------------------


def ipv4_spellings(address: str) -> list[str]:
    """Ways resolvers and parsers accept to write one IPv4 address."""
    a, b, c, d = (int(x) for x in address.split("."))
    n = int(ipaddress.IPv4Address(address))
    return [
        address,
        str(n),  # decimal
        hex(n),  # hex
        "0" + oct(n)[2:],  # octal
        f"0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}",
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"{a}.{b}.{(c << 8) + d}",  # short forms
        f"{a}.{(b << 16) + (c << 8) + d}",
        f"{a:04d}.{b:03d}.{c:03d}.{d:03d}",  # leading zeros
        f"{address}.",  # trailing dot
        f"[::ffff:{address}]",  # IPv6 wrappings
        f"[::ffff:{(a << 8) + b:x}:{(c << 8) + d:x}]",
        f"[0:0:0:0:0:ffff:{address}]",
        f"[::{address}]",
        f"[64:ff9b::{address}]",
        f"[2002:{(a << 8) + b:x}:{(c << 8) + d:x}::]",
        f"[::ffff:{address}%25lo]",
    ]


PRIVATE_V4 = ["127.0.0.1", "127.0.0.2", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0"]  # noqa: S104
PRIVATE_V4 += ["100.64.0.1", "100.100.100.200", "192.0.0.170", "198.18.0.1", "224.0.0.1", "255.255.255.255"]
PRIVATE_V6 = ["::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "2001:db8::1", "::ffff:10.0.0.1"]
LOCAL_NAMES = ["localhost", "LOCALHOST", "localhost.", "a.localhost", "ip6-localhost", "metadata.google.internal"]
LOCAL_NAMES += ["printer.local", "metadata", "router.home.arpa", "1.0.0.127.in-addr.arpa"]


def hostile_hosts() -> list[str]:
    hosts = [s for address in PRIVATE_V4 for s in ipv4_spellings(address)]
    hosts += [f"[{a}]" for a in PRIVATE_V6] + LOCAL_NAMES
    return hosts


def malformed_urls(target: str) -> list[str]:
    """Parser-confusion shapes around an allowed host and a forbidden `target`."""
    allowed = "127.0.0.1"
    shapes = [
        f"http://{target}\\@{allowed}/x.mp4",
        f"http://{allowed}\\@{target}/x.mp4",
        f"http://{target}\\\\@{allowed}/x.mp4",
        f"http://{allowed}@{target}/x.mp4",
        f"http://{allowed}:80@{target}/x.mp4",
        f"http://user:pw@{allowed}/x.mp4",
        f"http://{target}#@{allowed}/x.mp4",
        f"http://{target}?@{allowed}/x.mp4",
        f"http://{target};@{allowed}/x.mp4",
        f"http://{allowed}%40{target}/x.mp4",
        f"http://{allowed}%2F@{target}/x.mp4",
        f"http:\\\\{target}/x.mp4",
        f"http:/{target}/x.mp4",
        f"http:{target}/x.mp4",
        f"//{target}/x.mp4",
        f"{target}/x.mp4",
        f"http://{allowed}\t@{target}/x.mp4",
        f"http://{allowed}\n@{target}/x.mp4",
        f"http://{allowed}\r\n@{target}/x.mp4",
        f"http://{allowed}\x00@{target}/x.mp4",
        f"http://{allowed} @{target}/x.mp4",
        f"http://{allowed}/x.mp4\r\nHost: {target}",
        f" http://{target}/x.mp4",
        "http://１２７.０.０.２/x.mp4",
        "http://127。0。0。2/x.mp4",
        f"http://{target}:0/x.mp4",
        f"http://{target}:99999/x.mp4",
        f"http://{target}:-1/x.mp4",
        f"http://{target}:80x/x.mp4",
        "http://[::1/v.mp4",
        "http://[::1]x/v.mp4",
        "http://[127.0.0.1]/v.mp4",
        "http://[fe80::1%eth0]/v.mp4",
        "http://[]/v.mp4",
        "http:///v.mp4",
        "http://:80/v.mp4",
        "http://" + "a" * 300 + "/v.mp4",
        "http://a..b/v.mp4",
        "http://-a-/v.mp4",
        "http://" + allowed + "/" + "x" * 2100,
        "file:///etc/passwd",
        "ftp://127.0.0.1/v.mp4",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "data:video/mp4;base64,AAAA",
        "dict://127.0.0.1:6379/",
        "",
        " ",
    ]
    return shapes


NOT_STRINGS = [None, 0, 1.5, b"http://127.0.0.1/", ["http://127.0.0.1/"], {"url": 1}, object()]


# --- the policy's verdicts ---------------------------------------------------------


def test_every_private_spelling_is_refused_by_public_policy(hostile_tally):
    for host in hostile_hosts():
        for scheme in ("http", "https"):
            url = f"{scheme}://{host}:8443/v.mp4"
            hostile_tally.inputs += 1
            with pytest.raises(UrlRefused):
                check(url, PUBLIC_ONLY)


def test_every_spelling_other_than_the_listed_host_is_refused_by_download_policy(hostile_tally):
    for host in hostile_hosts():
        if host == "127.0.0.1":
            continue
        hostile_tally.inputs += 1
        with pytest.raises(UrlRefused):
            check(f"http://{host}/v.mp4", DOWNLOAD)


def test_parser_confusion_is_refused_under_every_policy(hostile_tally):
    for policy in (DOWNLOAD, PUBLIC_ONLY, urlpolicy.image_policy()):
        for url in malformed_urls("127.0.0.2") + malformed_urls("evil.example.com"):
            hostile_tally.inputs += 1
            with pytest.raises(UrlRefused):
                check(url, policy)
        for value in NOT_STRINGS:
            hostile_tally.inputs += 1
            with pytest.raises(UrlRefused):
                check(value, policy)


def test_the_listed_host_and_public_hosts_pass(settings):
    assert check("http://127.0.0.1:8000/a/b.mp4?x=1", DOWNLOAD).url == "http://127.0.0.1:8000/a/b.mp4?x=1"
    assert check("https://tempfile.aiquickdraw.com/v/a.mp4", PUBLIC_ONLY).host == "tempfile.aiquickdraw.com"
    assert check("HTTPS://Example.COM/", PUBLIC_ONLY).url == "https://example.com/"
    assert check("https://[2606:4700::1111]/", PUBLIC_ONLY).host == "2606:4700::1111"
    assert check("https://8.8.8.8/", PUBLIC_ONLY).ip == ipaddress.IPv4Address("8.8.8.8")
    with pytest.raises(UrlRefused, match="https"):
        check("http://example.com/", PUBLIC_ONLY)
    settings.USER_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    assert check("http://127.0.0.1:9/hook", urlpolicy.webhook_policy()).port == 9
    settings.KIE_DOWNLOAD_HOSTS = ["file.aiquickdraw.com"]
    with pytest.raises(UrlRefused, match="allowlist"):
        check("http://127.0.0.1/v.mp4", urlpolicy.download_policy())
    with pytest.raises(UrlRefused, match="https"):  # plain http only for a loopback simulator
        check("http://file.aiquickdraw.com/v.mp4", urlpolicy.download_policy())


@pytest.mark.parametrize(
    "address,public",
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("2002:808:808::", True),
        ("::ffff:127.0.0.1", False),
        ("::127.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("2002:a00:1::", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo wrapping a private client
        ("not an address", False),
        ("", False),
    ],
)
def test_address_is_judged_on_the_ipv4_inside(address, public):
    assert address_is_public(address) is public


@hsettings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda scheme, auth, host, port, path: f"{scheme}{auth}{host}{port}{path}",
            st.sampled_from(["http://", "https://", "HTTP://", "http:/", "http:\\\\", "//", "ftp://", ""]),
            st.sampled_from(["", "user@", "a:b@", "127.0.0.1\\@", "x@y@"]),
            st.sampled_from(hostile_hosts() + ["example.com", "127.0.0.1", "[::1]", "xn--e1afmkfd.xn--p1ai"]),
            st.sampled_from(["", ":80", ":443", ":0", ":65536", ":", ":8o"]),
            st.text(alphabet="/?#@\\%.:[]abc\t\n ", max_size=12),
        ),
    )
)
def test_any_text_is_refused_or_names_an_allowed_public_host(text, hostile_tally):
    """The property: check() raises nothing but UrlRefused, and whatever it
    passes is an http(s) URL whose rebuilt form re-checks to the same host,
    with a public address (or the exact listed host)."""
    hostile_tally.inputs += 1
    for policy in (PUBLIC_ONLY, DOWNLOAD):
        try:
            checked = check(text, policy)
        except UrlRefused:
            continue
        assert checked.scheme in ("http", "https")
        assert check(checked.url, policy) == checked
        assert policy.host_allowed(checked.host)
        if checked.ip is not None:
            assert address_is_public(checked.ip) or checked.host in policy.private_hosts


# --- what reaches the network --------------------------------------------------


def _try_fetch(url: str, policy: Policy) -> str:
    """Fetch and return how it ended: 'refused', 'failed' or 'reached'."""
    try:
        with fetch.open_stream(url, policy=policy, timeout=(2, 2)):
            return "reached"
    except UrlRefused:
        return "refused"
    except fetch.FetchError:
        return "failed"


def off_list_urls(servers) -> list[tuple[str, Policy, CountingServer]]:
    """(url, policy, server that must not be reached)."""
    forbidden, loop = servers["forbidden"], servers["loop"]
    cases = []
    for spelling in ipv4_spellings("127.0.0.2"):
        cases.append((f"http://{spelling}:{port(forbidden)}/v", DOWNLOAD, forbidden))
        cases.append((f"http://{spelling}:{port(forbidden)}/v", PUBLIC_ONLY, forbidden))
    names = ["localhost", "LocalHost", "vm", "runsc", socket.gethostname()]
    # Plain http allowed for these hosts, so that only the address rules stand
    # between the URL and the loopback server (not the https rule).
    public_http = Policy.build("public", http_hosts=[*ipv4_spellings("127.0.0.1"), *names])
    for spelling in ipv4_spellings("127.0.0.1"):
        cases.append((f"http://{spelling}:{port(loop)}/v", public_http, loop))
        cases.append((f"https://{spelling}:{port(loop)}/v", PUBLIC_ONLY, loop))
    for name in names:  # DNS names that resolve to this machine
        cases.append((f"http://{name}:{port(loop)}/v", public_http, loop))
    for url in malformed_urls(f"127.0.0.2:{port(forbidden)}"):
        cases.append((url, DOWNLOAD, forbidden))
    if "v6" in servers:
        v6 = servers["v6"]
        spellings = ("[::1]", "[0:0:0:0:0:0:0:1]", "[::0001]", "ip6-localhost", "localhost")
        for spelling in spellings:
            cases.append((f"http://{spelling}:{port(v6)}/v", Policy.build("public", http_hosts=spellings), v6))
    # Redirects from the allowed server to the forbidden one, in every spelling.
    allowed = f"http://127.0.0.1:{port(servers['allowed'])}"
    for spelling in ipv4_spellings("127.0.0.2") + ["localhost", "vm"]:
        target = f"http://{spelling}:{port(forbidden)}/v"
        cases.append((f"{allowed}/redirect?to={target}", DOWNLOAD, forbidden))
    cases.append((f"{allowed}/redirect?to=http://127.0.0.1%5C@127.0.0.2:{port(forbidden)}/v", DOWNLOAD, forbidden))
    return cases


def test_no_request_reaches_a_host_off_the_allowlist(servers, hostile_tally):
    before = {name: server.connections for name, server in servers.items()}
    outcomes = []
    for url, policy, _server in off_list_urls(servers):
        hostile_tally.inputs += 1
        outcomes.append(_try_fetch(url, policy))
    reached = sum(servers[n].connections - before[n] for n in servers if n != "allowed")
    hostile_tally.off_allowlist_requests += reached
    assert reached == 0
    assert "reached" not in outcomes


def test_dns_that_rebinds_to_a_private_address_reaches_nothing(servers, monkeypatch, hostile_tally):
    """The name passes the text check (it looks public); the connection
    resolves it again and refuses the private answer before connecting."""
    forbidden = servers["forbidden"]
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example.com":
            return real("127.0.0.2", *args, **kwargs)
        if host == "mixed.example.com":
            return real("8.8.8.8", *args, **kwargs) + real("127.0.0.2", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    before = forbidden.connections
    for name in ("rebind.example.com", "mixed.example.com"):
        url = f"http://{name}:{port(forbidden)}/v"
        policy = Policy.build("webhook", http_hosts=[name])
        assert check(url, policy).host == name  # the text alone is fine
        hostile_tally.inputs += 1
        assert _try_fetch(url, policy) == "refused"
        with pytest.raises(UrlRefused):
            check(url, policy, resolve=True)
    hostile_tally.off_allowlist_requests += forbidden.connections - before
    assert forbidden.connections == before


def test_allowed_hosts_are_reached(servers, settings):
    """Positive controls: the counters count, and a listed host works."""
    allowed, loop = servers["allowed"], servers["loop"]
    before = allowed.connections
    assert _try_fetch(f"http://127.0.0.1:{port(allowed)}/v", DOWNLOAD) == "reached"
    assert _try_fetch(f"http://127.0.0.1:{port(allowed)}/redirect?to=/v", DOWNLOAD) == "reached"
    assert allowed.connections > before
    settings.USER_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    before = loop.connections
    response = fetch.open_stream(
        f"http://127.0.0.1:{port(loop)}/hook", policy=urlpolicy.webhook_policy(), method="POST", data=b"{}"
    )
    with response:
        assert response.status_code == 200
    assert loop.connections == before + 1


def test_post_redirects_are_not_followed(servers):
    allowed = servers["allowed"]
    forbidden = servers["forbidden"]
    policy = Policy.build("webhook", private_hosts=["127.0.0.1"], http_hosts=["127.0.0.1"])
    before = forbidden.connections
    url = f"http://127.0.0.1:{port(allowed)}/redirect?to=http://127.0.0.2:{port(forbidden)}/"
    with fetch.open_stream(url, policy=policy, method="POST", data=b"{}") as response:
        assert response.status_code == 302
    assert forbidden.connections == before


def test_redirect_loops_end(servers):
    base = f"http://127.0.0.1:{port(servers['allowed'])}"
    url = f"{base}/redirect?to={base}/redirect?to={base}/redirect?to={base}/redirect?to={base}/redirect?to=/v"
    with pytest.raises(fetch.FetchError, match="Too many redirects") as info:
        fetch.open_stream(url, policy=DOWNLOAD)
    assert not info.value.retryable


def test_environment_proxies_are_ignored(servers, monkeypatch):
    """A proxy from the environment would make the proxy the peer."""
    forbidden = servers["forbidden"]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.2:{port(forbidden)}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.2:{port(forbidden)}")
    before = forbidden.connections
    assert _try_fetch(f"http://127.0.0.1:{port(servers['allowed'])}/v", DOWNLOAD) == "reached"
    assert forbidden.connections == before


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_https_through_the_guard_verifies_the_host_name(tmp_path, servers):
    """The guard connects to a checked address, and TLS still checks the
    certificate against the host name of the URL."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server = CountingServer(("127.0.0.1", 0))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        policy = Policy.build("tls", private_hosts=["localhost", "127.0.0.1"])
        session = fetch.guarded_session(policy)
        session.verify = str(cert)
        with fetch.open_stream(f"https://localhost:{port(server)}/v", policy=policy, session=session) as response:
            assert response.status_code == 200 and response.content == b"ok"
        with pytest.raises(fetch.FetchError):  # the certificate does not name 127.0.0.1
            fetch.open_stream(f"https://127.0.0.1:{port(server)}/v", policy=policy, session=session)
        before = server.connections
        with pytest.raises(UrlRefused):  # not a private host of this policy: no connection at all
            fetch.open_stream(f"https://localhost:{port(server)}/v", policy=PUBLIC_ONLY, session=session)
        assert server.connections == before
    finally:
        server.shutdown()


def test_image_links_in_the_generate_form_follow_the_same_policy(alice_client, hostile_tally, image_host, settings):
    """Input-image links go through the one policy: every hostile spelling
    is a form error (never a 5xx, never a job or a charge)."""
    from videos.models import Job

    settings.IMAGE_LINK_PRIVATE_HOSTS = []  # no exception for the hostile ones
    hostile = [f"https://{host}/a.png" for host in hostile_hosts()]
    hostile += [url.replace("http://", "https://", 1) for url in malformed_urls("127.0.0.2")]
    hostile = [url for url in hostile if url.strip() and len(url) < 2000]
    for url in hostile:
        hostile_tally.inputs += 1
        response = submit(alice_client, generation_type="REFERENCE_2_VIDEO", image_url_1=url)
        if response.status_code >= 500:
            hostile_tally.server_errors += 1
        assert response.status_code in (200, 400, 422), url
    created = Job.objects.count()
    hostile_tally.partial_writes += created
    assert created == 0
    # A good link still works. Links are fetched before any charge, so it is
    # the loopback image host, listed as the only private host allowed.
    settings.IMAGE_LINK_PRIVATE_HOSTS = ["127.0.0.1"]
    assert (
        submit(alice_client, generation_type="REFERENCE_2_VIDEO", image_url_1=f"{image_host.url}/a.png").status_code
        == 302
    )
