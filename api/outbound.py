"""The only module that sends HTTP to a user's URL (their webhook).

A user's URL is untrusted: it must not reach this machine, the private
network or a cloud metadata address (SSRF). The rules are the project's one
untrusted-URL policy (`untrusted.urlpolicy`, webhook rules: http(s) only,
no credentials or parser tricks, https and a public address unless the
host is listed in USER_WEBHOOK_PRIVATE_HOSTS), and the sending is
`untrusted.fetch`, which resolves the host again at connect time and
connects only to an address it checked, so a DNS answer that changes
between check and connect (rebinding) reaches nothing. No redirects are
followed. The first checks here only give the user a message in their
language for the common mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from untrusted import fetch, urlpolicy


class UrlRefused(Exception):
    """The URL breaks the policy; the message says why, for the user."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    address: str  # the first checked address (the connection checks again)


def _listed(host: str) -> bool:
    return host.lower().strip("[]") in {h.lower().strip("[]") for h in settings.USER_WEBHOOK_PRIVATE_HOSTS}


def check_webhook_url(url: str, *, resolve: bool = True) -> Target:
    """Check `url` against the policy (and, with `resolve`, every address
    its host has now) and return it as it will be fetched. Raises UrlRefused."""
    if len(url) > 2000:
        raise UrlRefused(_("The webhook URL is too long."))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises for a malformed port
    except ValueError as exc:
        raise UrlRefused(_("The webhook URL is not a valid web address.")) from exc
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise UrlRefused(_("The webhook URL must be an http(s) address."))
    if parts.username is not None or parts.password is not None or "\\" in url or any(c.isspace() for c in url):
        raise UrlRefused(_("The webhook URL must not carry credentials or odd characters."))
    if parts.scheme != "https" and not _listed(host):
        raise UrlRefused(_("The webhook URL must start with https://."))
    policy = urlpolicy.webhook_policy()
    try:
        checked = urlpolicy.check(url, policy)
    except urlpolicy.UrlRefused as exc:
        raise UrlRefused(str(exc)) from None
    if not resolve:
        return Target(url=checked.url, host=checked.host, port=checked.port, address="")
    try:
        addresses = urlpolicy.resolve_host(checked.host, checked.port)
    except urlpolicy.UrlRefused as exc:
        raise UrlRefused(_("The webhook host %(host)s cannot be found.") % {"host": host}) from exc
    if not all(policy.address_allowed(checked.host, address) for address in addresses):
        raise UrlRefused(_("The webhook URL must point at a public address."))
    return Target(url=checked.url, host=checked.host, port=checked.port, address=addresses[0])


@dataclass(frozen=True)
class Sent:
    status: int | None  # None: no answer
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Sent:
    """POST `body` to a user's URL, checked again now (DNS may have changed
    since it was saved) and at connect time. Never raises for the network or
    the policy; redirects are answers, not followed."""
    try:
        response = fetch.open_stream(
            url,
            policy=urlpolicy.webhook_policy(),
            method="POST",
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "VeoStudio-Webhooks/1", **headers},
            timeout=(settings.USER_WEBHOOK_CONNECT_TIMEOUT, settings.USER_WEBHOOK_READ_TIMEOUT),
            max_redirects=0,
        )
    except (urlpolicy.UrlRefused, fetch.FetchError) as exc:
        return Sent(status=None, error=str(exc)[:200])
    with response:  # the answer's body is never read: a huge one costs nothing
        return Sent(status=response.status_code)
