"""Extending a finished video: a new job that continues it.

The extension is a job like any other (charged, dispatched, submitted,
settled, downloaded and refunded by the same paths); only its submit asks
the provider's extend endpoint with the parent's task instead of generate,
and its result is the whole, longer video (fullResultUrls). It costs its
model's 720p price: the provider bills an extension as a generation.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from billing import services as billing

from .. import dispatch
from ..exceptions import ExtendNotAvailable
from ..models import Job, Upgrade, UpgradeKind
from ..vocabulary import GenerationType, Resolution

log = logging.getLogger(__name__)
S = Job.Status


def extend_refusal(parent: Job) -> str:
    """Why `parent` cannot be extended now ('' when it can)."""
    if parent.status != S.SUCCEEDED or not parent.task_id or parent.reused_from_id:
        return _("Only a finished video made here by the provider can be extended.")
    if parent_upgraded_to_1080p(parent):
        return _("This video was upgraded to 1080p, and the provider cannot extend a 1080p video.")
    return ""


def parent_upgraded_to_1080p(parent: Job) -> bool:
    """Whether a 1080p version of `parent` exists or is being made."""
    return parent.upgrades.filter(kind=UpgradeKind.P1080, status__in=Upgrade.HOLDING).exists()


def job_extend(*, user, parent: Job, prompt: str, model: str, seed: int | None = None) -> Job:
    """Create a queued job that continues `parent`, charge it, and offer it
    a running slot. Raises ExtendNotAvailable, or billing's Refused,
    InsufficientCredits or UnknownPrice; then nothing is written."""
    reason = extend_refusal(parent)
    if reason:
        raise ExtendNotAvailable(reason)
    price = billing.price_for_video(model, Resolution.P720)
    with billing.admission(), transaction.atomic():
        # The parent is locked so that a 1080p upgrade asked for at the same
        # moment cannot slip in between the check and the charge.
        locked = Job.objects.select_for_update().get(pk=parent.pk)
        reason = extend_refusal(locked)
        if reason:
            raise ExtendNotAvailable(reason)
        job = Job.objects.create(
            user=user,
            parent=locked,
            prompt=prompt,
            model=model,
            generation_type=GenerationType.TEXT,
            aspect_ratio=locked.aspect_ratio,
            seed=seed,
            enable_translation=locked.enable_translation,
            watermark=locked.watermark,
            resolution=Resolution.P720,
            price_credits=price.credits,
            provider_credits=price.provider_credits,
            language=translation.get_language() or settings.LANGUAGE_CODE,
        )
        billing.job_charge(
            user_id=user.pk,
            price=price,
            reference=job.charge_reference,
            reason=f"Video #{job.pk} extends #{locked.pk} ({model})",
        )
        dispatch.dispatch_after_commit()
    log.info("job %s extends job %s user=%s model=%s price=%s", job.pk, parent.pk, user.pk, model, price.credits)
    return job
