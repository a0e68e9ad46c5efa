"""Derived work made from a finished video: today the 1080p version.

An upgrade is an Upgrade row: charged when asked for (its price code is its
kind), fetched by the worker and retried while the provider answers "still
processing" (videos.retry), settled by one conditional update, and refunded
under its own ledger reference if it fails or passes its deadline.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import services as billing

from .. import kie, retry, signals
from ..downloads import DownloadError, store_video
from ..exceptions import UpgradeNotAvailable
from ..models import Job, Upgrade, UpgradeKind
from ..queue import enqueue, recorder
from .settle import in_language_of

log = logging.getLogger(__name__)
U = Upgrade.Status

# While a worker fetches, the next attempt is pushed this far out: a worker
# that dies mid-fetch is retried by the sweep after it.
FETCH_LEASE = timedelta(minutes=5)


def upgrade_request(*, job: Job, kind: str = UpgradeKind.P1080) -> Upgrade:
    """Charge an upgrade of `job` and hand it to the worker.

    Raises UpgradeNotAvailable, or billing's Refused, InsufficientCredits or
    UnknownPrice; then nothing is written.
    """
    if not job.can_upgrade(kind):
        raise UpgradeNotAvailable(_("Only finished 16:9 videos can be upgraded to 1080p."))
    price = billing.price_for(kind)
    now = timezone.now()
    try:
        with billing.admission(), transaction.atomic():
            upgrade = Upgrade.objects.create(
                job=job,
                kind=kind,
                price_credits=price.credits,
                task_id=job.task_id or "",
                next_attempt_at=now,
                deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
            )
            billing.job_charge(
                user_id=job.user_id, price=price, reference=upgrade.reference, reason=f"{kind} of video #{job.pk}"
            )
            transaction.on_commit(lambda: enqueue("upgrade_job", upgrade.pk, mark=False))
    except IntegrityError:  # another request for the same upgrade won the race (upgrade_once_per_kind)
        raise UpgradeNotAvailable(_("This video is already being upgraded.")) from None
    log.info("job %s: %s requested (upgrade %s)", job.pk, kind, upgrade.pk)
    return upgrade


def upgrade_fetch(upgrade_id: int, *, client: kie.KieClient | None = None) -> None:
    """One attempt at an upgrade. Idempotent: a due pending upgrade is
    claimed by moving its next attempt time; others return at once."""
    now = timezone.now()
    claimed = Upgrade.objects.filter(pk=upgrade_id, status=U.PENDING, next_attempt_at__lte=now).update(
        next_attempt_at=now + FETCH_LEASE, attempts=F("attempts") + 1
    )
    if not claimed:
        return
    upgrade = Upgrade.objects.select_related("job").get(pk=upgrade_id)
    job = upgrade.job
    try:
        url = (client or kie.default_client()).get_1080p(upgrade.task_id, record=recorder(job.pk))
        stored = store_video(url, name=f"videos/{job.user_id}/{secrets.token_urlsafe(16)}-{upgrade.kind}.mp4")
    except Exception as exc:  # every fault ends in a retry or a refund
        if not isinstance(exc, kie.KieError | DownloadError):
            # Our own fault (storage down, a bug): a retryable attempt like
            # any other, so the attempt bound and the deadline still hold.
            log.exception("job %s: %s attempt %s crashed", job.pk, upgrade.kind, upgrade.attempts)
            exc = DownloadError(f"an internal error ({type(exc).__name__})", retryable=True)
        delay = retry.retry_delay("upgrade", upgrade.attempts) if exc.retryable else None
        if delay is not None:
            Upgrade.objects.filter(pk=upgrade.pk, status=U.PENDING).update(next_attempt_at=timezone.now() + delay)
            log.info("job %s: %s not ready (attempt %s): %s", job.pk, upgrade.kind, upgrade.attempts, exc)
            return
        upgrade_fail(upgrade, reason=format_lazy(gettext_lazy("The 1080p version could not be made: {}"), exc))
        return
    with transaction.atomic():
        won = Upgrade.objects.filter(pk=upgrade.pk, status=U.PENDING).update(
            status=U.SUCCEEDED, file=stored.name, next_attempt_at=None, finished_at=timezone.now()
        )
        if won:
            signals.upgrade_finished_after_commit(
                job.pk, reference=upgrade.reference, quality=upgrade.kind, succeeded=True
            )
    if not won:  # failed meanwhile (its deadline): do not keep a stray file
        default_storage.delete(stored.name)
        return
    log.info("job %s: %s stored %s", job.pk, upgrade.kind, stored.name)


def upgrade_fail(upgrade: Upgrade, *, reason) -> bool:
    """Fail a pending upgrade and refund it, once. Returns whether this call did it."""
    reason = in_language_of(upgrade.job_id, reason)
    with transaction.atomic():
        won = Upgrade.objects.filter(pk=upgrade.pk, status=U.PENDING).update(
            status=U.FAILED, error=reason[:500], next_attempt_at=None, finished_at=timezone.now()
        )
        if won:
            billing.credits_refund(
                reference=upgrade.reference, reason=f"{upgrade.kind} of video #{upgrade.job_id} failed"
            )
            signals.upgrade_finished_after_commit(
                upgrade.job_id, reference=upgrade.reference, quality=upgrade.kind, succeeded=False, error=reason
            )
    if won:
        log.warning("job %s: %s failed and refunded: %s", upgrade.job_id, upgrade.kind, reason)
    return bool(won)
