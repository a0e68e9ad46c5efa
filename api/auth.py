"""Bearer tokens: who is calling, may they write, and are they within their
requests per minute."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from ninja.security import HttpBearer

from .errors import ApiError
from .models import TOKEN_PREFIX, ApiToken, token_hash

WINDOW = timedelta(minutes=1)


def token_admit(token_id: int, *, last_used_at=None) -> int | None:
    """Count one request against the token's minute. Returns None when
    admitted, else the seconds until the window lets up.

    One conditional UPDATE decides, so concurrent requests on many web
    processes cannot overshoot: it opens a new window when the old one is
    over, or counts within it while below the limit, and touches nothing
    otherwise (the same statement keeps `last_used_at`)."""
    limit = settings.API_REQUESTS_PER_MINUTE
    now = timezone.now()
    expired = now - WINDOW
    rows = ApiToken.objects.filter(pk=token_id)
    if not limit:
        # Nothing to count: keep `last_used_at` to the minute, so most
        # requests write nothing (and, knowing the row's value, ask nothing).
        if last_used_at is None or last_used_at < expired:
            rows.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=expired)).update(last_used_at=now)
        return None
    admitted = rows.exclude(window_started_at__gt=expired, window_count__gte=limit).update(
        window_count=Case(When(window_started_at__gt=expired, then=F("window_count") + 1), default=Value(1)),
        window_started_at=Case(When(window_started_at__gt=expired, then=F("window_started_at")), default=Value(now)),
        last_used_at=now,
    )
    if admitted:
        return None
    started = ApiToken.objects.filter(pk=token_id).values_list("window_started_at", flat=True).first()
    if started is None:
        return 1
    return max(1, int((started + WINDOW - now).total_seconds()) + 1)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer veo_...`. Sets `request.api_token` and
    `request.user`."""

    def authenticate(self, request, token: str):
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = (
            ApiToken.objects.select_related("user")
            .filter(secret_hash=token_hash(token), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if row is None:
            return None
        wait = token_admit(row.pk, last_used_at=row.last_used_at)
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"This token may make {settings.API_REQUESTS_PER_MINUTE} requests a minute; try again in {wait} s.",
                retry_after=wait,
            )
        request.api_token = row
        request.user = row.user
        return row


def require_write(request) -> None:
    if request.api_token.read_only:
        raise ApiError(403, "read_only_token", "This token may only read. Create a token without the read-only limit.")
