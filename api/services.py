"""Writes of the developer API: tokens, idempotency keys, the webhook
setting. (Videos are created by videos.services, the pages' path.)"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import TOKEN_PREFIX, ApiToken, IdempotencyKey, WebhookEndpoint, new_webhook_secret, token_hash
from .outbound import UrlRefused, check_webhook_url


def token_create(*, user, name: str, read_only: bool = False) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the token itself, which
    is shown once and never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:64] or "token", prefix=raw[:12], secret_hash=token_hash(raw), read_only=read_only
    )
    return token, raw


def token_revoke(*, user, token_id: int) -> bool:
    """Revoke one of `user`'s tokens; False when there is no such active token."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


# --- idempotency -----------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """The outcome of presenting an Idempotency-Key: go ahead (`row` is ours),
    or answer `replay` (a stored status and body), or a conflict."""

    row: IdempotencyKey | None = None
    replay: tuple[int, dict] | None = None
    conflict: str = ""  # "in_progress" | "other_body"


def body_digest(body: dict) -> str:
    """The same JSON in any key order or spacing is the same body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def idempotency_claim(*, user, key: str, digest: str) -> Claim:
    """Write the (user, key) row before any work. The unique constraint
    decides races: the loser reads the winner's row. Keys older than
    IDEMPOTENCY_KEY_HOURS are forgotten, and a `running` row older than
    IDEMPOTENCY_RUNNING_SECONDS is taken as abandoned by a dead process."""
    now = timezone.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return Claim(row=IdempotencyKey.objects.create(user=user, key=key, body_sha256=digest))
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(user=user, key=key).first()
        expired = now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
        if row is not None and row.created_at < expired:
            IdempotencyKey.objects.filter(pk=row.pk, created_at__lt=expired).delete()  # forgotten: start afresh
            continue
        if row is not None:
            break
        # Released between our insert and our read: try again.
    else:
        return Claim(conflict="in_progress")
    if row.body_sha256 != digest:
        return Claim(conflict="other_body")
    if row.state == IdempotencyKey.State.DONE:
        return Claim(replay=(row.status_code, row.response))
    stale = now - timedelta(seconds=settings.IDEMPOTENCY_RUNNING_SECONDS)
    if row.created_at < stale and IdempotencyKey.objects.filter(
        pk=row.pk, state=IdempotencyKey.State.RUNNING, created_at__lt=stale
    ).update(created_at=now):
        row.refresh_from_db()
        return Claim(row=row)
    return Claim(conflict="in_progress")


def idempotency_finish(row: IdempotencyKey, *, status: int, body: dict, job_id: int | None = None) -> None:
    """Keep the answer for replays."""
    IdempotencyKey.objects.filter(pk=row.pk).update(
        state=IdempotencyKey.State.DONE, status_code=status, response=body, job_id=job_id
    )


def idempotency_release(row: IdempotencyKey) -> None:
    """Nothing was done (refused for now): the key may be used again."""
    IdempotencyKey.objects.filter(pk=row.pk, state=IdempotencyKey.State.RUNNING).delete()


# --- webhook ---------------------------------------------------------------


def webhook_of(user) -> WebhookEndpoint:
    endpoint, _ = WebhookEndpoint.objects.get_or_create(user=user)
    return endpoint


def webhook_set_url(*, user, url: str) -> WebhookEndpoint:
    """Set (or with "" clear) the URL. Raises UrlRefused when the URL fails
    the untrusted-URL policy; nothing is changed then."""
    url = url.strip()
    if url:
        check_webhook_url(url)
    endpoint = webhook_of(user)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=url, updated_at=timezone.now())
    endpoint.refresh_from_db()
    return endpoint


def webhook_rotate_secret(*, user) -> WebhookEndpoint:
    """A new signing secret; deliveries still pending are signed with it."""
    endpoint = webhook_of(user)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=new_webhook_secret(), updated_at=timezone.now())
    endpoint.refresh_from_db()
    return endpoint


__all__ = [
    "Claim",
    "UrlRefused",
    "body_digest",
    "idempotency_claim",
    "idempotency_finish",
    "idempotency_release",
    "token_create",
    "token_revoke",
    "webhook_of",
    "webhook_rotate_secret",
    "webhook_set_url",
]
