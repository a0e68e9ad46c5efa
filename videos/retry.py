"""When to try again: the one retry and polling policy of background work.

Pure functions of settings and attempt counts, so every rule is in one
place and unit-tested without a database.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings

# 429: 1, 2, 4 … 32 × KIE_BACKOFF_BASE_SECONDS, then give up.
BACKOFF_STEPS = (1, 2, 4, 8, 16, 32)
MAX_DOWNLOAD_ATTEMPTS = 5


def backoff_delay(step: int) -> float:
    """429: 1, 2, 4 … 32 × KIE_BACKOFF_BASE_SECONDS, with ±50 % jitter so that
    many workers do not retry in lockstep."""
    return BACKOFF_STEPS[step] * settings.KIE_BACKOFF_BASE_SECONDS * random.uniform(0.5, 1.5)


def first_poll_delay(model: str) -> timedelta:
    """The first safety poll: the model's typical duration plus a grace."""
    typical = settings.VEO_TYPICAL_SECONDS.get(model, max(settings.VEO_TYPICAL_SECONDS.values()))
    return timedelta(seconds=typical + settings.POLL_GRACE_SECONDS)


def poll_interval(poll_count: int) -> timedelta:
    """After the first poll: 30 s, 60 s, 120 s … at most 5 minutes (settings)."""
    base, most = settings.POLL_INTERVAL_SECONDS, settings.POLL_MAX_INTERVAL_SECONDS
    return timedelta(seconds=min(base * 2 ** max(poll_count - 1, 0), most))


# The provider's docs: ask for a 4K version no more often than every 30 s.
UHD_MIN_SPACING_SECONDS = 30


def upgrade_retry_delay(attempts: int, *, kind: str = "1080p") -> timedelta | None:
    """An upgrade the provider is still processing (None: give up).

    1080p: every HD_RETRY_SECONDS, at most HD_MAX_ATTEMPTS attempts in all.
    4K ("4k is processing", 5-10 minutes): every UHD_RETRY_SECONDS, never
    sooner than 30 s, until its deadline."""
    if kind == "4k":
        return timedelta(seconds=max(settings.UHD_RETRY_SECONDS, UHD_MIN_SPACING_SECONDS))
    if attempts >= settings.HD_MAX_ATTEMPTS:
        return None
    return timedelta(seconds=settings.HD_RETRY_SECONDS)


def upgrade_first_check() -> timedelta:
    """After a 4K request was accepted: when to read its status if no
    callback came (the callback normally settles it first)."""
    return timedelta(seconds=max(settings.UHD_FIRST_CHECK_SECONDS, UHD_MIN_SPACING_SECONDS))
