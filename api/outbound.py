"""The only module that sends HTTP to a user's URL (their webhook).

A user's URL is untrusted: it goes through the project's one policy for
such URLs (`untrusted.urlpolicy.webhook_policy`: public https hosts; the
hosts in USER_WEBHOOK_PRIVATE_HOSTS may be private and plain http), checked
with DNS when it is saved, and enforced again at connect time by
`untrusted.fetch`, which connects only to addresses it checked (no DNS
rebinding) and does not follow a POST's redirect.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from untrusted import fetch, urlpolicy
from untrusted.urlpolicy import UrlRefused

__all__ = ["Sent", "UrlRefused", "check_webhook_url", "post"]


def check_webhook_url(url: str) -> urlpolicy.CheckedUrl:
    """Check `url` (and the addresses its host has now) against the webhook
    policy. Raises UrlRefused with a message for the user."""
    return urlpolicy.check(url, urlpolicy.webhook_policy(), resolve=True)


@dataclass(frozen=True)
class Sent:
    status: int | None  # None: no answer
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Sent:
    """POST `body` to a user's URL under the webhook policy. The answer's
    body is never read. Never raises for the network or the policy."""
    try:
        with fetch.open_stream(
            url,
            policy=urlpolicy.webhook_policy(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "VeoStudio-Webhooks/1", **headers},
            data=body,
            timeout=(settings.USER_WEBHOOK_CONNECT_TIMEOUT, settings.USER_WEBHOOK_READ_TIMEOUT),
        ) as response:
            return Sent(status=response.status_code)
    except UrlRefused as exc:
        return Sent(status=None, error=str(exc))
    except fetch.FetchError as exc:
        return Sent(status=None, error=str(exc))
