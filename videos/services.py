"""Every state change of a video job.

A job moves queued → submitting → submitted → downloading → succeeded, or to
failed from any active state. Each move is a conditional update that only
one caller can win, so the webhook, the poller, retried tasks and restarted
workers settle a job exactly once. Money moves only through billing.services,
in the same transaction as the status change it pays for. Provider calls and
downloads happen outside transactions.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy

from billing import services as billing
from billing.models import Price

from . import dispatch, kie, notices, posters
from .downloads import DownloadError, store_video
from .models import Job, JobImage, ProviderCall

log = logging.getLogger(__name__)
S = Job.Status

SUBMIT_LEASE = timedelta(minutes=3)
DOWNLOAD_LEASE = timedelta(minutes=10)
REQUEUE_AFTER = timedelta(seconds=60)  # a task handed out this long ago and not started is taken as lost
MAX_SUBMIT_ATTEMPTS = 6
MAX_DOWNLOAD_ATTEMPTS = 5
POLL_BATCH = 1000  # due polls (and lost tasks) handed out per tick; each is a queued task


@dataclass(frozen=True)
class ImageInput:
    """One input image from the form: an upload or an https link."""

    upload: UploadedFile | None = None
    url: str = ""
    content_type: str = ""


# --- create ----------------------------------------------------------------


def job_create(
    *,
    user,
    prompt: str,
    model: str,
    generation_type: str,
    aspect_ratio: str,
    seed: int | None,
    enable_translation: bool,
    watermark: str,
    images: list[ImageInput],
    retry_of: Job | None = None,
) -> Job:
    """Create a queued job, charge its price, and offer it a running slot.

    An identical earlier request with an explicit seed is reused instead
    (VIDEO_REUSE_SCOPE): the new job is finished at once, for
    VIDEO_REUSE_PERCENT of the price, with no provider call.
    Raises billing.Refused (paused, rate limited, over a cap),
    billing.InsufficientCredits or billing.UnknownPrice; then nothing is
    written.
    """
    price = billing.price_for(model)
    request = {
        "prompt": prompt,
        "model": model,
        "generation_type": generation_type,
        "aspect_ratio": aspect_ratio,
        "seed": seed,
        "enable_translation": enable_translation,
        "watermark": watermark,
    }
    # An operator's retry really asks the provider again (and stays linked).
    original = None if retry_of else find_reusable(user=user, has_images=bool(images), **request)
    if original is not None:
        return _job_reuse(user=user, original=original, price=price)
    with billing.admission(), transaction.atomic():
        job = Job.objects.create(
            user=user,
            **request,
            retry_of=retry_of,  # unique: a second retry of one job raises IntegrityError, nothing charged
            price_credits=price.credits,
            provider_credits=price.provider_credits,
            language=translation.get_language() or settings.LANGUAGE_CODE,
        )
        billing.job_charge(
            user_id=user.pk, price=price, reference=job.charge_reference, reason=f"Video #{job.pk} ({model})"
        )
        for position, image in enumerate(images, start=1):
            row = JobImage(job=job, position=position, source_url=image.url, content_type=image.content_type)
            if image.upload is not None:
                ext = {"image/png": "png", "image/webp": "webp"}.get(image.content_type, "jpg")
                row.file.save(f"{row.token}.{ext}", image.upload, save=False)
            row.save()
        dispatch.dispatch_after_commit()
    log.info("job %s created user=%s model=%s price=%s", job.pk, user.pk, model, price.credits)
    return job


REQUEST_FIELDS = ("prompt", "model", "generation_type", "aspect_ratio", "seed", "enable_translation", "watermark")


def request_of(job: Job) -> dict:
    """What was asked for: the fields that make two requests identical."""
    return {field: getattr(job, field) for field in REQUEST_FIELDS}


def find_reusable(*, user, seed: int | None, has_images: bool, **request) -> Job | None:
    """A finished video made from exactly this request, if reuse applies."""
    scope = settings.VIDEO_REUSE_SCOPE
    if scope not in ("user", "global") or seed is None or has_images:
        return None
    candidates = Job.objects.filter(status=S.SUCCEEDED, seed=seed, images__isnull=True, **request).exclude(
        video_file=""
    )
    if scope == "user":
        candidates = candidates.filter(user=user)
    return candidates.order_by("-id").first()


def _job_reuse(*, user, original: Job, price: Price) -> Job:
    credits = price.credits * settings.VIDEO_REUSE_PERCENT // 100
    now = timezone.now()
    with billing.admission(), transaction.atomic():
        job = Job.objects.create(
            user=user,
            **request_of(original),
            price_credits=credits,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            status=S.SUCCEEDED,
            reused_from=original,
            video_file=original.video_file.name,
            video_bytes=original.video_bytes,
            video_sha256=original.video_sha256,
            poster=original.poster.name,
            resolution=original.resolution,
            submitted_at=now,
            finished_at=now,
        )
        if credits:  # admitted like any submission; nothing is spent at the provider
            reuse_price = Price(code=price.code, label=price.label, credits=credits, provider_credits=0)
            billing.job_charge(
                user_id=user.pk, price=reuse_price, reference=job.charge_reference, reason=f"Video #{job.pk} (reused)"
            )
    log.info("job %s reuses job %s for %s credits", job.pk, original.pk, credits)
    return job


def callback_url(job: Job) -> str:
    return settings.PUBLIC_BASE_URL + reverse("kie_callback", args=[job.callback_token])


def image_urls(job: Job) -> tuple[str, ...]:
    return tuple(
        settings.PUBLIC_BASE_URL + reverse("videos:input_image", args=[img.token]) if img.file else img.source_url
        for img in job.images.all()
    )


# --- submit ----------------------------------------------------------------


def job_submit(job_id: int, *, client: kie.KieClient | None = None) -> None:
    """Send a dispatched job to the provider. Idempotent: only a queued,
    dispatched job whose retry time has come is claimed; anyone else
    returns at once. A 429 is retried here with exponential backoff; other
    transient errors put the job back in the queue (keeping its slot)."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id, status=S.QUEUED, dispatched_at__isnull=False)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=S.SUBMITTING, attempts=F("attempts") + 1, lease_until=now + SUBMIT_LEASE, next_attempt_at=None)
    )
    if not claimed:
        return
    job = Job.objects.get(pk=job_id)
    request = kie.GenerateRequest(
        prompt=job.prompt,
        model=job.model,
        generation_type=job.generation_type,
        image_urls=image_urls(job),
        aspect_ratio=job.aspect_ratio,
        seed=job.seed,
        callback_url=callback_url(job),
        enable_translation=job.enable_translation,
        watermark=job.watermark,
    )
    client = client or kie.default_client()
    backoffs = 0
    while True:
        if not dispatch.provider_permit():
            _requeue(job, delay=timedelta(seconds=5))
            return
        try:
            task_id = client.generate(request, record=recorder(job.pk))
            break
        except kie.KieError as exc:
            if exc.handling.retry == "backoff" and backoffs < len(BACKOFF_STEPS):
                delay = backoff_delay(backoffs)
                log.warning("job %s: provider rate limit, retry in %.1fs", job.pk, delay)
                time.sleep(delay)
                backoffs += 1
                Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(lease_until=timezone.now() + SUBMIT_LEASE)
                continue
            _after_submit_error(job, exc)
            return
    now = timezone.now()
    with transaction.atomic():
        # A fast callback may have stored the task id (and settled) already.
        Job.objects.filter(pk=job.pk, task_id__isnull=True).update(task_id=task_id)
        Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
            status=S.SUBMITTED,
            submitted_at=now,
            next_poll_at=now + first_poll_delay(job.model),
            deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
            lease_until=None,
        )
    log.info("job %s submitted task=%s", job.pk, task_id)


def _requeue(job: Job, *, delay: timedelta) -> None:
    """Back to the queue, keeping the running slot, until `delay` passed."""
    Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
        status=S.QUEUED, next_attempt_at=timezone.now() + delay, lease_until=None, enqueued_at=None
    )


def _after_submit_error(job: Job, exc: kie.KieError) -> None:
    now = timezone.now()
    if exc.maybe_delivered:
        # The provider may have started (and will bill) this generation. We
        # do not resend it: its callback URL is unique to this job, so if it
        # exists its result still arrives; if nothing comes by the deadline
        # the job fails and is refunded.
        Job.objects.filter(pk=job.pk, status=S.SUBMITTING).update(
            status=S.SUBMITTED,
            submitted_at=now,
            deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
            lease_until=None,
        )
        log.warning("job %s: generate answer lost (%s); waiting for a callback", job.pk, exc.message)
        return
    if exc.handling.breaker:
        log.error("job %s: provider needs an operator: code=%s %s", job.pk, exc.code, exc.message)
        from billing.services import breaker_trip

        breaker_trip(reason=f"Provider answered {exc.code}: {exc.handling.meaning} ({exc.message})")
    delays = settings.KIE_RETRY_DELAYS
    if exc.handling.retry == "later" and job.attempts <= len(delays):
        delay = timedelta(seconds=delays[job.attempts - 1])
        _requeue(job, delay=delay)
        log.warning("job %s: submit retry %s in %ss (code=%s)", job.pk, job.attempts, delay.seconds, exc.code)
        return
    job_fail(job.pk, reason=user_message(exc), from_statuses=(S.SUBMITTING,))


BACKOFF_STEPS = (1, 2, 4, 8, 16, 32)


def backoff_delay(step: int) -> float:
    """429: 1, 2, 4 … 32 × KIE_BACKOFF_BASE_SECONDS, with ±50 % jitter so that
    many workers do not retry in lockstep."""
    return BACKOFF_STEPS[step] * settings.KIE_BACKOFF_BASE_SECONDS * random.uniform(0.5, 1.5)


def user_message(exc: kie.KieError):
    """What the user reads when the provider refused (lazy: job_fail writes
    it in the job's language). The provider's own words stay as they are."""
    if exc.code == 429:
        return gettext_lazy(
            "The video service is too busy right now. Your credits were returned; please try again later."
        )
    if exc.handling.alert:
        return gettext_lazy("The video service is unavailable right now. Your credits were returned.")
    if exc.code == 422:
        return format_lazy(gettext_lazy("The provider could not accept this request: {}"), exc.message)
    if exc.message:
        return format_lazy(gettext_lazy("The provider could not make this video: {}"), exc.message)
    return format_lazy(
        gettext_lazy("The provider could not make this video ({}). Your credits were returned."), exc.code
    )


# --- settle ----------------------------------------------------------------


def in_language_of(job_id: int, text) -> str:
    """`text` (perhaps a lazy translation) as the job's user reads it."""
    language = Job.objects.filter(pk=job_id).values_list("language", flat=True).first() or settings.LANGUAGE_CODE
    with translation.override(language):
        return str(text)


def job_fail(job_id: int, *, reason, from_statuses=Job.ACTIVE) -> bool:
    """Fail an active job and refund its charge, once. Returns whether this
    call did it (False when the job had already moved on). `reason` may be
    a lazy translation: it is written in the job's language."""
    reason = in_language_of(job_id, reason)
    with transaction.atomic():
        won = Job.objects.filter(pk=job_id, status__in=from_statuses).update(
            status=S.FAILED,
            error_message=reason[:1000],
            finished_at=timezone.now(),
            next_poll_at=None,
            lease_until=None,
            next_attempt_at=None,
        )
        if won:
            billing.credits_refund(reference=f"job:{job_id}", reason=f"Video #{job_id} failed")
            dispatch.dispatch_after_commit()
            notices.notice_after_commit(job_id, "failed")
    if won:
        log.info("job %s failed and refunded: %s", job_id, reason)
    return bool(won)


def job_apply_result(job_id: int, result: kie.TaskResult, *, via: str, task_known: bool = False) -> bool:
    """The one settle path for callbacks and polls. Returns whether this
    call moved the job (duplicates and late arrivals return False)."""
    waiting = (S.SUBMITTING, S.SUBMITTED)
    now = timezone.now()
    stamp = {"callback_at": now} if via == "callback" else {}
    if not task_known:  # the result names the task; remember it if the submit has not yet
        Job.objects.filter(pk=job_id, task_id__isnull=True).update(task_id=result.task_id)
    if result.state == "failed":
        Job.objects.filter(pk=job_id, status__in=waiting).update(**stamp)
        return job_fail(
            job_id,
            reason=result.error_message or gettext_lazy("The provider could not generate this video."),
            from_statuses=waiting,
        )
    if result.state == "pending":
        # Success without a URL yet (or still generating): ask again soon.
        Job.objects.filter(pk=job_id, status=S.SUBMITTED).update(
            next_poll_at=now + timedelta(seconds=settings.POLL_GRACE_SECONDS), **stamp
        )
        return False
    with transaction.atomic():
        won = Job.objects.filter(pk=job_id, status__in=waiting).update(
            status=S.DOWNLOADING,
            provider_video_url=result.video_url,
            resolution=result.resolution,
            provider_completed_at=result.completed_at or now,
            next_poll_at=None,
            attempts=0,
            next_attempt_at=None,
            lease_until=None,
            enqueued_at=now,  # the download task is handed out on commit
            **stamp,
        )
        if won:
            transaction.on_commit(lambda: enqueue("download_job", job_id, mark=False))
            dispatch.dispatch_after_commit()  # no longer in flight at the provider
    if won:
        log.info("job %s result via %s: %s", job_id, via, result.video_url)
    return bool(won)


def job_callback(*, job: Job, result: kie.TaskResult, endpoint: str) -> bool:
    """Record an accepted callback in the job's history and settle it, in
    one transaction (one commit on the webhook's hot path)."""
    with transaction.atomic():
        ProviderCall.objects.create(
            job=job,
            endpoint=endpoint,
            http_status=200,
            code=200 if result.state != "failed" else result.error_code,
            error=result.error_message[:500],
        )
        return job_apply_result(job.pk, result, via="callback", task_known=job.task_id == result.task_id)


# --- download --------------------------------------------------------------


def job_download(job_id: int) -> None:
    """Copy the result into our storage. Idempotent: a lease keeps two
    workers from downloading at once; a lost worker's lease runs out."""
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job_id, status=S.DOWNLOADING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(lease_until=now + DOWNLOAD_LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return
    job = Job.objects.get(pk=job_id)
    name = f"videos/{job.user_id}/{secrets.token_urlsafe(16)}.mp4"
    try:
        stored = store_video(job.provider_video_url, name=name)
    except DownloadError as exc:
        log.warning("job %s: download attempt %s failed: %s", job.pk, job.attempts, exc)
        if exc.retryable and job.attempts < MAX_DOWNLOAD_ATTEMPTS:
            Job.objects.filter(pk=job.pk, status=S.DOWNLOADING).update(
                lease_until=None, next_attempt_at=now + timedelta(seconds=15 * 2**job.attempts), enqueued_at=None
            )
        else:
            reason = format_lazy(gettext_lazy("We could not save the video: {}"), exc)
            job_fail(job.pk, reason=reason, from_statuses=(S.DOWNLOADING,))
        return
    poster = _poster_for(stored.name, user_id=job.user_id)
    with transaction.atomic():
        won = Job.objects.filter(pk=job.pk, status=S.DOWNLOADING).update(
            status=S.SUCCEEDED,
            poster=poster,
            video_file=stored.name,
            video_bytes=stored.size,
            video_sha256=stored.sha256,
            finished_at=timezone.now(),
            lease_until=None,
        )
        if won:
            dispatch.dispatch_after_commit()
            notices.notice_after_commit(job.pk, "ready")
    if not won:  # settled meanwhile by someone else: do not keep stray files
        default_storage.delete(stored.name)
        if poster:
            default_storage.delete(poster)
        return
    log.info("job %s stored %s (%s bytes)", job.pk, stored.name, stored.size)


def _poster_for(video_name: str, *, user_id: int) -> str:
    """Store a poster frame of a stored video; '' when none can be made
    (no ffmpeg, or a storage without local paths)."""
    try:
        path = default_storage.path(video_name)
    except NotImplementedError:
        return ""
    jpeg = posters.extract_poster(path)
    if not jpeg:
        return ""
    return default_storage.save(f"posters/{user_id}/{secrets.token_urlsafe(16)}.jpg", ContentFile(jpeg))


# --- poll and sweep --------------------------------------------------------


def first_poll_delay(model: str) -> timedelta:
    typical = settings.VEO_TYPICAL_SECONDS.get(model, max(settings.VEO_TYPICAL_SECONDS.values()))
    return timedelta(seconds=typical + settings.POLL_GRACE_SECONDS)


def poll_interval(poll_count: int) -> timedelta:
    """After the first poll: 30 s, 60 s, 120 s … at most 5 minutes (settings)."""
    base, most = settings.POLL_INTERVAL_SECONDS, settings.POLL_MAX_INTERVAL_SECONDS
    return timedelta(seconds=min(base * 2 ** max(poll_count - 1, 0), most))


def job_poll(job_id: int, *, client: kie.KieClient | None = None) -> None:
    """Ask the provider for a submitted job's state and settle it."""
    job = Job.objects.filter(pk=job_id, status=S.SUBMITTED, task_id__isnull=False).first()
    if job is None:
        return
    try:
        result = (client or kie.default_client()).record_info(job.task_id, record=recorder(job.pk))
    except kie.KieError as exc:
        log.warning("job %s: poll failed (code=%s): %s", job.pk, exc.code, exc.message)
        return  # the next poll is already scheduled; the deadline bounds it
    if result.task_id != job.task_id:
        log.warning("job %s: status answer named task %s", job.pk, result.task_id)
        return
    job_apply_result(job.pk, result, via="poll")


def jobs_tick(now: datetime | None = None) -> dict[str, int]:
    """The scheduled safety net, cheap when there is nothing to do:
    due polls, deadlines, stale workers, lost tasks, free slots and 1080p
    retries. Returns counts."""
    now = now or timezone.now()
    counts = {"polled": 0, "expired": 0, "stale": 0, "requeued": 0, "dispatched": 0, "hd": 0}

    # Each query orders by its due time (oldest first), which also lets the
    # database walk the small index of due work instead of the whole table.
    due = (
        Job.objects.filter(status=S.SUBMITTED, task_id__isnull=False, next_poll_at__lte=now)
        .order_by("next_poll_at")
        .values_list("pk", "poll_count", "next_poll_at")[:POLL_BATCH]
    )
    for pk, poll_count, due_at in due:
        # Claim this poll so that an overlapping tick does not send it twice.
        if Job.objects.filter(pk=pk, status=S.SUBMITTED, next_poll_at=due_at).update(
            next_poll_at=now + poll_interval(poll_count + 1), poll_count=F("poll_count") + 1
        ):
            enqueue("poll_job", pk)
            counts["polled"] += 1

    for pk in Job.objects.filter(status__in=(S.SUBMITTING, S.SUBMITTED), deadline_at__lt=now).values_list(
        "pk", flat=True
    ):
        if job_fail(pk, reason=gettext_lazy("The video took too long and was cancelled. Your credits were returned.")):
            counts["expired"] += 1

    # A worker died mid-submit: we cannot tell whether the provider got it,
    # so treat it as possibly delivered (wait for a callback until the deadline).
    counts["stale"] = Job.objects.filter(status=S.SUBMITTING, lease_until__lt=now).update(
        status=S.SUBMITTED,
        submitted_at=now,
        lease_until=None,
        deadline_at=now + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
    )

    lost = (
        Job.objects.filter(Q(status=S.QUEUED, dispatched_at__isnull=False) | Q(status=S.DOWNLOADING))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - REQUEUE_AFTER))
        .order_by("next_attempt_at")
        .values_list("pk", "status")[:POLL_BATCH]
    )
    for pk, status in lost:
        enqueue("submit_job" if status == S.QUEUED else "download_job", pk)
        counts["requeued"] += 1

    counts["dispatched"] = len(dispatch.jobs_dispatch())
    dispatch.permits_prune(now)

    hd_due = Job.objects.filter(hd_status=Job.HdStatus.PENDING, hd_next_at__lte=now).order_by("hd_next_at")
    for pk in hd_due.values_list("pk", flat=True)[:POLL_BATCH]:
        enqueue("hd_job", pk)
        counts["hd"] += 1
    return counts


# --- operator actions ------------------------------------------------------


def job_retry(job_id: int) -> Job | None:
    """An operator's retry. A job waiting for a retry is sent now; a failed
    job is submitted again as a new job for its owner (charged and admitted
    like any other, so it raises what job_create raises), at most once: the
    new job's unique `retry_of` makes a second or raced retry return the
    first one's job instead. Returns the job that will run, or None if there
    was nothing to retry."""
    job = Job.objects.get(pk=job_id)
    if job.status == S.QUEUED:
        Job.objects.filter(pk=job.pk, status=S.QUEUED).update(next_attempt_at=None)
        if job.dispatched_at:
            enqueue("submit_job", job.pk)
        else:
            dispatch.jobs_dispatch()
        return job
    if job.status != S.FAILED:
        return None
    earlier = Job.objects.filter(retry_of=job).first()
    if earlier is not None:
        return earlier
    images = [ImageInput(url=url) for url in image_urls(job)]
    try:
        return job_create(user=job.user, **request_of(job), images=images, retry_of=job)
    except IntegrityError:  # a concurrent retry of the same job won; its charge stands, ours never happened
        return Job.objects.filter(retry_of=job).first()


def job_refund(job_id: int, *, actor) -> bool:
    """An operator's refund: an active job is failed and refunded; a
    finished one is refunded as goodwill (once, like every refund)."""
    job = Job.objects.get(pk=job_id)
    if job.status in Job.ACTIVE:
        reason = format_lazy(
            gettext_lazy("Cancelled by an operator. Your {} credits were returned."), job.price_credits
        )
        return job_fail(job.pk, reason=reason)
    entry = billing.credits_refund(reference=job.charge_reference, reason=f"Video #{job.pk}: refunded by an operator")
    return entry is not None


# --- plumbing --------------------------------------------------------------


def enqueue(task: str, job_id: int, *, mark: bool = True) -> None:
    """Hand a job to the background worker (django-q2), noting when (unless
    the caller's own update did)."""
    from django_q.tasks import async_task

    if mark:
        Job.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    async_task(f"videos.tasks.{task}", job_id, task_name=f"{task}:{job_id}", group=task)


def recorder(job_id: int | None) -> kie.Recorder:
    def record(call: kie.CallRecord) -> None:
        ProviderCall.objects.create(
            job_id=job_id,
            endpoint=call.endpoint,
            http_status=call.http_status,
            code=call.code,
            duration_ms=call.duration_ms,
            error=call.error,
        )

    return record
