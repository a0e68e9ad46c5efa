"""Derived work made from a finished video: its 1080p and 4K versions.

An upgrade is an Upgrade row: charged when asked for (its price code is its
kind), made by the worker, settled by one conditional update, and refunded
under its own ledger reference if it fails or passes its deadline.

- 1080p: the worker asks get-1080p-video, which answers "still processing"
  for a minute or three; it asks again every HD_RETRY_SECONDS (videos.retry).
- 4K: the worker POSTs get-4k-video once with the upgrade's own secret
  callback URL; the provider calls back when it is made. A safety check
  (one status read) is due UHD_FIRST_CHECK_SECONDS later in case the
  callback is lost; "4k is processing" answers are asked again no sooner
  than every 30 s. The callback stores the result URL; the worker copies
  the file.
- Before an upgrade is failed at its deadline, or on an ambiguous callback,
  the provider is asked once (the final authority): a version it made is
  delivered, not refunded.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import services as billing

from .. import kie, retry, signals, storage
from ..downloads import DownloadError, store_video
from ..exceptions import UpgradeNotAvailable
from ..models import Job, ProviderCall, Upgrade, UpgradeKind
from ..queue import enqueue, recorder
from .settle import in_language_of

log = logging.getLogger(__name__)
U = Upgrade.Status

# While a worker fetches, the next attempt is pushed this far out: a worker
# that dies mid-fetch is retried by the sweep after it.
FETCH_LEASE = timedelta(minutes=5)
EXPIRED = gettext_lazy("The upgrade took too long. Your credits were returned.")


def upgrade_callback_url(upgrade: Upgrade) -> str:
    return settings.PUBLIC_BASE_URL + reverse("kie_upgrade_callback", args=[upgrade.callback_token])


def upgrade_request(*, job: Job, kind: str = UpgradeKind.P1080) -> Upgrade:
    """Charge an upgrade of `job` and hand it to the worker.

    Raises UpgradeNotAvailable, or billing's Refused, InsufficientCredits or
    UnknownPrice; then nothing is written.
    """
    if kind not in UpgradeKind.values:
        raise UpgradeNotAvailable(_("Choose 1080p or 4K."))
    if not job.can_upgrade(kind):
        if job.upgrades.filter(kind=kind, status__in=Upgrade.HOLDING).exists():
            raise UpgradeNotAvailable(_("This video is already being upgraded."))
        raise UpgradeNotAvailable(_("Only finished 16:9 or 9:16 videos made by the provider can be upgraded."))
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
    try:
        url = upgrade.result_url or _ask(upgrade, client or kie.default_client())
        if not url:  # 4K accepted: the callback (or the safety check) brings it
            return
        _store(upgrade, url)
    except Exception as exc:  # every fault ends in a retry or a refund
        if not isinstance(exc, kie.KieError | DownloadError):
            # Our own fault (storage down, a bug): a retryable attempt like
            # any other, so the attempt bound and the deadline still hold.
            log.exception("job %s: %s attempt %s crashed", upgrade.job_id, upgrade.kind, upgrade.attempts)
            exc = DownloadError(f"an internal error ({type(exc).__name__})", retryable=True)
        rule = "upgrade_4k" if upgrade.kind == UpgradeKind.UHD_4K else "upgrade"
        delay = retry.retry_delay(rule, upgrade.attempts) if exc.retryable else None
        if delay is not None:
            Upgrade.objects.filter(pk=upgrade.pk, status=U.PENDING).update(next_attempt_at=timezone.now() + delay)
            log.info("job %s: %s not ready (attempt %s): %s", upgrade.job_id, upgrade.kind, upgrade.attempts, exc)
            return
        upgrade_fail(
            upgrade,
            reason=format_lazy(gettext_lazy("The {} version could not be made: {}"), upgrade.get_kind_display(), exc),
        )


def _ask(upgrade: Upgrade, client: kie.KieClient) -> str:
    """Ask the provider for the upgrade's URL ('' while a 4K is being made).
    Raises KieError (retryable while it is still processing)."""
    job = upgrade.job
    record = recorder(job.pk)
    if upgrade.kind == UpgradeKind.P1080:
        return client.get_1080p(upgrade.task_id or job.task_id, record=record)
    first = upgrade.requested_at is None
    result = client.get_4k(job.task_id, callback_url=upgrade_callback_url(upgrade) if first else "", record=record)
    if first:
        Upgrade.objects.filter(pk=upgrade.pk, status=U.PENDING).update(
            requested_at=timezone.now(),
            task_id=result.task_id,
            next_attempt_at=timezone.now() + retry.upgrade_first_check(),
        )
    elif not result.video_url:
        raise kie.KieError("4K still processing", code=None, handling=kie.PROCESSING_4K)
    return result.video_url


def _store(upgrade: Upgrade, url: str) -> bool:
    """Copy the made version into storage and settle the upgrade, once."""
    job = upgrade.job
    stored = store_video(url, name=f"videos/{job.user_id}/{secrets.token_urlsafe(16)}-{upgrade.kind}.mp4")
    with transaction.atomic():
        won = Upgrade.objects.filter(pk=upgrade.pk, status=U.PENDING).update(
            status=U.SUCCEEDED,
            file=stored.name,
            result_url=url[:2000],
            next_attempt_at=None,
            finished_at=timezone.now(),
        )
        if won:
            signals.upgrade_finished_after_commit(
                job.pk, reference=upgrade.reference, quality=upgrade.kind, succeeded=True
            )
    if not won:  # failed meanwhile (its deadline): do not keep a stray file
        storage.delete(stored.name)
        return False
    log.info("job %s: %s stored %s", job.pk, upgrade.kind, stored.name)
    return True


def upgrade_callback(*, upgrade: Upgrade, result: kie.TaskResult, endpoint: str) -> bool:
    """A callback for a 4K upgrade: a made version is stored by the worker;
    a failure (or an empty success) is checked with the provider once before
    any refund. Duplicates change nothing. Returns whether this call did."""
    now = timezone.now()
    with transaction.atomic():
        ProviderCall.objects.create(
            job_id=upgrade.job_id,
            endpoint=endpoint,
            http_status=200,
            code=200 if result.state == "succeeded" else result.error_code,
            error=result.error_message[:500],
        )
        pending = Upgrade.objects.filter(pk=upgrade.pk, status=U.PENDING, result_url="", callback_at__isnull=True)
        if result.state == "succeeded":
            changed = pending.update(
                result_url=result.video_url[:2000],
                callback_at=now,
                next_attempt_at=now,
                credits_consumed=result.credits_consumed,
            )
        else:
            # Not settled by a notification: one status read decides.
            changed = pending.update(callback_at=now, next_attempt_at=now)
        if changed:
            transaction.on_commit(lambda: enqueue("upgrade_job", upgrade.pk, mark=False))
    return bool(changed)


def upgrade_expire(upgrade_id: int, *, client: kie.KieClient | None = None) -> bool:
    """An upgrade past its deadline: ask the provider once (the final
    authority); store what it made, else fail and refund. Claimed by
    stamping final_check_at, so the question is asked once."""
    now = timezone.now()
    if not Upgrade.objects.filter(pk=upgrade_id, status=U.PENDING, final_check_at__isnull=True).update(
        final_check_at=now, next_attempt_at=now + FETCH_LEASE
    ):
        return False
    upgrade = Upgrade.objects.select_related("job").get(pk=upgrade_id)
    client = client or kie.default_client()
    try:
        url = upgrade.result_url or _final_answer(upgrade, client)
        if url and _store(upgrade, url):
            log.info("job %s: %s past its deadline but made: delivered", upgrade.job_id, upgrade.kind)
            return True
    except (kie.KieError, DownloadError) as exc:
        log.warning("job %s: final check of %s failed: %s", upgrade.job_id, upgrade.kind, exc)
    except Exception:  # our own fault (storage down, a bug): the deadline still ends it, with a refund
        log.exception("job %s: final check of %s crashed", upgrade.job_id, upgrade.kind)
    return upgrade_fail(upgrade, reason=EXPIRED)


def _final_answer(upgrade: Upgrade, client: kie.KieClient) -> str:
    job = upgrade.job
    record = recorder(job.pk)
    if upgrade.kind == UpgradeKind.P1080:
        return client.get_1080p(upgrade.task_id or job.task_id, record=record)
    if upgrade.task_id and upgrade.task_id != job.task_id:  # the 4K task of its own: record-info knows it
        result = client.record_info(upgrade.task_id, record=record)
        return result.video_url if result.state == "succeeded" else ""
    if upgrade.requested_at is None:
        return ""  # never reached the provider
    return client.get_4k(job.task_id, record=record).video_url


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
