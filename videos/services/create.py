"""Creating a job: admit and charge a request, or reuse an identical video.

Money moves only through billing.services, in the transaction that creates
the job; the job is then offered a running slot once that commits.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from billing import services as billing
from billing.models import Price

from .. import dispatch, signals, storage
from ..models import Job, JobImage
from ..vocabulary import REQUEST_FIELDS, ImageInput, VideoRequest

log = logging.getLogger(__name__)
S = Job.Status

UPLOAD_EXTENSIONS = {"image/png": "png", "image/webp": "webp"}


def job_create(*, user, request: VideoRequest, retry_of: Job | None = None) -> Job:
    """Create a queued job, charge its price, and offer it a running slot.

    An identical earlier request with an explicit seed is reused instead
    (VIDEO_REUSE_SCOPE): the new job is finished at once, for
    VIDEO_REUSE_PERCENT of the price, with no provider call.
    Raises billing's Refused (paused, rate limited, over a cap),
    InsufficientCredits or UnknownPrice; then nothing is written. With
    `retry_of` (an operator's retry) it really asks the provider again, and
    raises IntegrityError, nothing charged, if that job was retried already.
    """
    price = billing.price_for_video(request.model, request.resolution)
    original = None if retry_of else find_reusable(user=user, request=request)
    if original is not None:
        return _job_reuse(user=user, original=original, price=price)
    with billing.admission(), transaction.atomic():
        job = Job.objects.create(
            user=user,
            **request.stored_fields(),
            retry_of=retry_of,  # one-to-one: a second retry of one job cannot be written
            price_credits=price.credits,
            provider_credits=price.provider_credits,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            # Waiting for a slot (or a submit retry) has a clock too; the
            # submit starts a fresh one for the generation.
            deadline_at=timezone.now() + timedelta(seconds=settings.JOB_DEADLINE_SECONDS),
        )
        billing.job_charge(
            user_id=user.pk, price=price, reference=job.charge_reference, reason=f"Video #{job.pk} ({request.model})"
        )
        for position, image in enumerate(request.images, start=1):
            row = JobImage(job=job, position=position, source_url=image.url, content_type=image.content_type)
            if image.upload is not None:
                ext = UPLOAD_EXTENSIONS.get(image.content_type, "jpg")
                row.file.save(f"{row.token}.{ext}", image.upload, save=False)
            row.save()
        dispatch.dispatch_after_commit()
    log.info("job %s created user=%s model=%s price=%s", job.pk, user.pk, request.model, price.credits)
    return job


def request_of(job: Job) -> VideoRequest:
    """What was asked for, as the provider will receive it: uploaded images
    become presigned links to the object store (valid past the job's
    deadline), or the app's own unguessable links with local storage."""
    images = tuple(
        ImageInput(
            url=(
                storage.provider_url(img.file.name)
                or settings.PUBLIC_BASE_URL + reverse("videos:input_image", args=[img.token])
            )
            if img.file
            else img.source_url
        )
        for img in job.images.all()
    )
    return VideoRequest(**{field: getattr(job, field) for field in REQUEST_FIELDS}, images=images)


def find_reusable(*, user, request: VideoRequest) -> Job | None:
    """A finished video made from exactly this request, if reuse applies."""
    scope = settings.VIDEO_REUSE_SCOPE
    if scope not in ("user", "global") or request.seed is None or request.images:
        return None
    candidates = Job.objects.filter(
        status=S.SUCCEEDED, images__isnull=True, parent__isnull=True, **request.stored_fields()
    ).exclude(video_file="")
    if scope == "user":
        candidates = candidates.filter(user=user)
    return candidates.order_by("-id").first()


def _job_reuse(*, user, original: Job, price: Price) -> Job:
    credits = price.credits * settings.VIDEO_REUSE_PERCENT // 100
    now = timezone.now()
    with billing.admission(), transaction.atomic():
        job = Job.objects.create(
            user=user,
            **{field: getattr(original, field) for field in REQUEST_FIELDS},
            price_credits=credits,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            status=S.SUCCEEDED,
            reused_from=original,
            video_file=original.video_file.name,
            video_bytes=original.video_bytes,
            video_sha256=original.video_sha256,
            poster=original.poster.name,
            result_resolution=original.result_resolution,
            submitted_at=now,
            finished_at=now,
        )
        if credits:  # admitted like any submission; nothing is spent at the provider
            reuse_price = Price(code=price.code, label=price.label, credits=credits, provider_credits=0)
            billing.job_charge(
                user_id=user.pk, price=reuse_price, reference=job.charge_reference, reason=f"Video #{job.pk} (reused)"
            )
        # Final at once: announced like any finished video (the user's webhook).
        signals.job_finished_after_commit(job.pk, "ready")
    log.info("job %s reuses job %s for %s credits", job.pk, original.pk, credits)
    return job
