"""Redeem codes: made in batches by operators, redeemed by users for credits.

A redemption locks the code row, so its uses never pass its maximum however
many people redeem at once; a user redeems a code once (a unique key); each
redemption is a ledger entry naming the code. Failed guesses are counted per
user and throttled.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import LedgerEntry, RedeemAttempt, RedeemCode, Redemption
from .services import credits_grant

log = logging.getLogger(__name__)

# No 0/O, 1/I/L: codes are read aloud and typed from paper. 16 symbols of 31
# make about 79 bits, far beyond guessing at a few tries an hour.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 16


class RedeemRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalize(code: str) -> str:
    """'abcd efgh-ijkl mnop' -> 'ABCD-EFGH-IJKL-MNOP' (as stored)."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _new_code() -> str:
    return normalize("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))


def codes_create(
    *,
    credits: int,
    count: int,
    expires_days: int | None = None,
    uses: int = 1,
    batch: str = "",
    actor: AbstractBaseUser | None = None,
) -> list[RedeemCode]:
    """Make `count` new codes worth `credits` each, usable `uses` times in all,
    expiring after `expires_days` (None: never)."""
    if credits <= 0 or count <= 0 or uses <= 0:
        raise ValueError("credits, count and uses must be positive")
    if expires_days is not None and expires_days <= 0:
        raise ValueError("expiry must be a positive number of days")
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    made: list[RedeemCode] = []
    while len(made) < count:
        try:
            with transaction.atomic():
                made.append(
                    RedeemCode.objects.create(
                        code=_new_code(),
                        credits=credits,
                        max_uses=uses,
                        expires_at=expires_at,
                        batch=batch[:64],
                        created_by=actor,
                    )
                )
        except IntegrityError:  # a collision: astronomically rare, just draw again
            continue
    log.info("redeem codes: %s made, %s credits each, batch %r", count, credits, batch)
    return made


def _throttled(user_id: int, now) -> int:
    """Minutes to wait, or 0, after too many failed attempts this hour."""
    limit = settings.REDEEM_FAILURES_PER_HOUR
    recent = list(
        RedeemAttempt.objects.filter(user_id=user_id, created_at__gte=now - timedelta(hours=1))
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if limit <= 0 or len(recent) < limit:
        return 0
    free_at = recent[-1] + timedelta(hours=1)
    return max(int((free_at - now).total_seconds() // 60) + 1, 1)


def code_redeem(*, user: AbstractBaseUser, code: str, ip: str = "") -> Redemption:
    """Give `user` the code's credits. Raises RedeemRefused with the reason
    (nothing written but, for an unknown code, the failed attempt)."""
    now = timezone.now()
    wait = _throttled(user.pk, now)
    if wait:
        raise RedeemRefused(_("Too many wrong codes. Please try again in %(minutes)s minutes.") % {"minutes": wait})
    canonical = normalize(code)
    try:
        with transaction.atomic():
            found = RedeemCode.objects.select_for_update().filter(code=canonical, active=True).first()
            if found is None:
                raise _Unknown()
            if found.expires_at and found.expires_at <= now:
                raise RedeemRefused(_("This code has expired."))
            if Redemption.objects.filter(code=found, user=user).exists():
                raise RedeemRefused(_("You have already redeemed this code."))
            if found.uses >= found.max_uses:
                raise RedeemRefused(_("This code has already been used."))
            redemption = Redemption.objects.create(code=found, user=user)
            RedeemCode.objects.filter(pk=found.pk).update(uses=found.uses + 1)
            credits_grant(
                user=user,
                amount=found.credits,
                reason=f"Code {found.code}",
                kind=LedgerEntry.Kind.REDEEM,
                reference=f"redeem:{found.pk}:{user.pk}",
            )
    except _Unknown:
        RedeemAttempt.objects.create(user=user, ip=ip[:45])
        raise RedeemRefused(_("This code is not valid. Check it and try again.")) from None
    except IntegrityError:
        # The same user redeeming in two tabs at once: the unique key caught it.
        raise RedeemRefused(_("You have already redeemed this code.")) from None
    log.info("code %s redeemed by %s for %s credits", found.code, user.pk, found.credits)
    return redemption


class _Unknown(Exception):
    pass
