"""When to try again: the one retry and polling policy of background work.

Every retry is a rescheduled attempt: the caller writes
`next_attempt_at = now + retry_delay(...)` on the row (a job or an upgrade)
and returns, and the sweep (or the dispatcher, on its next call) hands the
row to a worker again once that time has come. No worker ever sleeps
waiting for the provider, so a worker stops at once on SIGTERM.

The table below is the whole policy; each row says how long to wait before
the next attempt after each failed one, and how much random jitter to add so
that many workers do not retry in lockstep. Pure functions of settings and
counts, unit-tested without a database.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

# 429: 1, 2, 4 … 32 × KIE_BACKOFF_BASE_SECONDS, then give up.
BACKOFF_STEPS = (1, 2, 4, 8, 16, 32)
# The provider's docs: ask for a 4K version no more often than every 30 s.
UHD_MIN_SPACING_SECONDS = 30


@dataclass(frozen=True)
class Rule:
    """Delays (seconds) before the 2nd, 3rd … attempt; after the last, give up."""

    delays: Callable[[], tuple[float, ...]]
    jitter: float = 0.0  # ± this fraction of each delay
    meaning: str = ""


# Keyed by kie.Handling.retry for provider answers ("backoff", "later"; a
# code marked "no" has no row: it fails at once, with a refund).
RULES: dict[str, Rule] = {
    # The provider's rate limit (HTTP 429): exponential backoff with jitter.
    "backoff": Rule(
        lambda: tuple(step * settings.KIE_BACKOFF_BASE_SECONDS for step in BACKOFF_STEPS),
        jitter=0.5,
        meaning="429: back off exponentially, then refund",
    ),
    # Maintenance (455), server errors (500), an unreachable provider: the
    # same request later, keeping the job's running slot, then refund.
    "later": Rule(
        lambda: tuple(settings.KIE_RETRY_DELAYS),
        meaning="455/500/network: retry later, then refund",
    ),
    # Copying the result into our storage broke off (network, 5xx).
    "download": Rule(lambda: (30, 60, 120, 240), meaning="download: 4 retries, doubling, then refund"),
    # The 1080p version is still processing at the provider.
    "upgrade": Rule(
        lambda: (settings.HD_RETRY_SECONDS,) * max(settings.HD_MAX_ATTEMPTS - 1, 0),
        meaning="1080p still processing: every HD_RETRY_SECONDS, then refund",
    ),
    # "4k is processing" (5-10 minutes): asked again every UHD_RETRY_SECONDS,
    # never sooner than 30 s (the provider's docs), until its deadline.
    "upgrade_4k": Rule(
        lambda: (max(settings.UHD_RETRY_SECONDS, UHD_MIN_SPACING_SECONDS),)
        * (settings.JOB_DEADLINE_SECONDS // max(settings.UHD_RETRY_SECONDS, UHD_MIN_SPACING_SECONDS) + 1),
        meaning="4K still processing: every UHD_RETRY_SECONDS (at least 30 s), until the deadline",
    ),
}


def retry_delay(rule: str, failures: int) -> timedelta | None:
    """How long to wait after the `failures`-th failure under `rule`
    (1 for the first), or None when that was the last attempt allowed (or
    `rule` is not retried at all)."""
    policy = RULES.get(rule)
    if policy is None:
        return None
    delays = policy.delays()
    if not 1 <= failures <= len(delays):
        return None
    delay = delays[failures - 1]
    if policy.jitter:
        delay *= random.uniform(1 - policy.jitter, 1 + policy.jitter)
    return timedelta(seconds=delay)


def permit_delay(wait: float) -> timedelta:
    """No provider permit now: try again when the rate window makes room
    (`wait` seconds), plus up to a second of jitter so that waiting jobs do
    not all come back in the same instant. No limit: the job is queued and
    its deadline does not run yet."""
    return timedelta(seconds=wait + random.uniform(0, 1))


def first_poll_delay(model: str) -> timedelta:
    """The first safety poll: the model's typical duration plus a grace."""
    typical = settings.VEO_TYPICAL_SECONDS.get(model, max(settings.VEO_TYPICAL_SECONDS.values()))
    return timedelta(seconds=typical + settings.POLL_GRACE_SECONDS)


def poll_interval(poll_count: int) -> timedelta:
    """After the first poll: 30 s, 60 s, 120 s … at most 5 minutes (settings)."""
    base, most = settings.POLL_INTERVAL_SECONDS, settings.POLL_MAX_INTERVAL_SECONDS
    return timedelta(seconds=min(base * 2 ** max(poll_count - 1, 0), most))


def upgrade_first_check() -> timedelta:
    """After a 4K request was accepted: when to read its status if no
    callback came (the callback normally settles it first)."""
    return timedelta(seconds=max(settings.UHD_FIRST_CHECK_SECONDS, UHD_MIN_SPACING_SECONDS))
