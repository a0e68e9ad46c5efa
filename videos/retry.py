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


def upgrade_retry_delay(attempts: int) -> timedelta | None:
    """An upgrade the provider is still processing: every HD_RETRY_SECONDS,
    at most HD_MAX_ATTEMPTS attempts in all (None: give up)."""
    if attempts >= settings.HD_MAX_ATTEMPTS:
        return None
    return timedelta(seconds=settings.HD_RETRY_SECONDS)
