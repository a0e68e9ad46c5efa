"""The provider's webhook: verify, settle, answer fast.

Each job has its own unguessable URL; when an HMAC key is configured the
signature over taskId + "." + timestamp must match and be fresh. Settling is
the same idempotent path as polling, so duplicates, replays and late
callbacks are harmless and still answer 200 (the sender should stop). The
download happens in the worker.
"""

import base64
import hashlib
import hmac
import json
import logging
import time

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import kie, services
from .models import Job, Upgrade

log = logging.getLogger(__name__)


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def signature_ok(
    *, task_id: str, timestamp: str, signature: str, key: str, max_age: int, now: float | None = None
) -> bool:
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > max_age:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode())


@csrf_exempt
@require_POST
def kie_callback(request, token: str):
    job = Job.objects.filter(callback_token=token).order_by().first()  # by the unique index, unsorted
    if job is None:
        return _error("Unknown callback URL.", 404)
    try:
        body = json.loads(request.body)
        result = kie.parse_callback(body)
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("job %s: bad callback body: %s", job.pk, exc)
        return _error(f"Bad callback body: {exc}" if isinstance(exc, kie.BadPayload) else "The body must be JSON.", 400)
    if settings.KIE_WEBHOOK_HMAC_KEY and not signature_ok(
        task_id=result.task_id,
        timestamp=request.headers.get("X-Webhook-Timestamp", ""),
        signature=request.headers.get("X-Webhook-Signature", ""),
        key=settings.KIE_WEBHOOK_HMAC_KEY,
        max_age=settings.KIE_WEBHOOK_MAX_AGE,
    ):
        log.warning("job %s: callback with a missing or bad signature", job.pk)
        return _error("Missing, stale or invalid signature.", 401)
    if job.task_id and result.task_id != job.task_id:
        log.warning("job %s: callback for task %s, expected %s", job.pk, result.task_id, job.task_id)
        return _error("This callback is for another task.", 409)
    if job.status not in (Job.Status.SUBMITTING, Job.Status.SUBMITTED):
        # Settled already (a duplicate, a retry, or a late callback): the
        # answer must still be 200 so the sender stops; nothing is written.
        log.info("job %s: callback for a settled job (%s) ignored", job.pk, job.status)
        return JsonResponse({"ok": True, "changed": False})
    shape = "flat" if "successFlag" in body else "nested"
    changed = services.job_callback(job=job, result=result, endpoint=f"callback ({shape})")
    return JsonResponse({"ok": True, "changed": changed})


@csrf_exempt
@require_POST
def kie_upgrade_callback(request, token: str):
    """A 4K upgrade's own callback URL (one secret per upgrade). Verified
    like a job's; a made version is stored by the worker, anything else is
    checked with the provider before a refund; duplicates answer 200."""
    upgrade = Upgrade.objects.filter(callback_token=token).select_related("job").order_by().first()
    if upgrade is None:
        return _error("Unknown callback URL.", 404)
    try:
        body = json.loads(request.body)
        result = kie.parse_callback(body)
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("upgrade %s: bad callback body: %s", upgrade.pk, exc)
        return _error(f"Bad callback body: {exc}" if isinstance(exc, kie.BadPayload) else "The body must be JSON.", 400)
    if settings.KIE_WEBHOOK_HMAC_KEY and not signature_ok(
        task_id=result.task_id,
        timestamp=request.headers.get("X-Webhook-Timestamp", ""),
        signature=request.headers.get("X-Webhook-Signature", ""),
        key=settings.KIE_WEBHOOK_HMAC_KEY,
        max_age=settings.KIE_WEBHOOK_MAX_AGE,
    ):
        log.warning("upgrade %s: callback with a missing or bad signature", upgrade.pk)
        return _error("Missing, stale or invalid signature.", 401)
    # The provider names the 4K task or the video it is made from. Until the
    # 4K task's id is known (the request's answer may still be on its way),
    # the unguessable URL alone says which upgrade this is.
    known = upgrade.task_id and upgrade.task_id != upgrade.job.task_id
    if known and result.task_id not in {upgrade.task_id, upgrade.job.task_id}:
        log.warning("upgrade %s: callback for task %s", upgrade.pk, result.task_id)
        return _error("This callback is for another task.", 409)
    if upgrade.status != Upgrade.Status.PENDING:
        log.info("upgrade %s: callback for a settled upgrade (%s) ignored", upgrade.pk, upgrade.status)
        return JsonResponse({"ok": True, "changed": False})
    shape = "flat" if "successFlag" in body else "nested"
    changed = services.upgrade_callback(upgrade=upgrade, result=result, endpoint=f"callback {upgrade.kind} ({shape})")
    return JsonResponse({"ok": True, "changed": changed})
