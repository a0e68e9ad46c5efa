"""A version token per job, kept in the cache and replaced after every
committed change of the job's row.

Open job pages ask for `status.json` every few seconds. Answering from the
cache is safe only if the cache can tell that what it holds is current, and
the database cannot be asked (that is the cost being avoided). So every
write to a job replaces its token once the write is committed; a reader
takes the token *before* it reads the row and files what it read under that
token. A write that commits after the read replaces the token, so a stale
entry can never match again; an evicted token is replaced by a new random
one, which matches no old entry either.

Used only where the cache is shared by every process (Redis): with a cache
per process, another process's write would go unseen (`LIVE_STATUS_CACHE`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

TTL = 24 * 3600  # tokens and entries of jobs nobody watches fade away


def enabled() -> bool:
    return bool(getattr(settings, "LIVE_STATUS_CACHE", False))


def key(pk: int) -> str:
    return f"job:v:{pk}"


def _new() -> str:
    return secrets.token_hex(8)


def jobs_changed(pks: Iterable[int], *, using: str = "default") -> None:
    """Replace the tokens of these jobs once the current transaction commits
    (at once outside one)."""
    if not enabled():
        return
    keys = [key(pk) for pk in pks]
    if keys:
        transaction.on_commit(lambda: cache.set_many({k: _new() for k in keys}, TTL), using=using)


def current(pk: int) -> str:
    """The job's token; taken before reading the row."""
    token = cache.get(key(pk))
    if token is None:
        cache.add(key(pk), _new(), TTL)
        token = cache.get(key(pk))
    return token
