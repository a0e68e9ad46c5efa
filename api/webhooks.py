"""The user's webhook: final states of their jobs and upgrades, POSTed per
the Standard Webhooks spec (webhook-id, webhook-timestamp,
webhook-signature; signed with the user's whsec_ secret by the
`standardwebhooks` library).

An event becomes a WebhookDelivery row (unique per user and event, so a
job reported final twice is announced once) and a worker task. A failed
attempt is not slept on: the row gets its next time
(USER_WEBHOOK_RETRY_DELAYS) and the minute sweep hands it to the worker
again; after the last delay it is given up. Every attempt shows in the
user's delivery log.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task
from standardwebhooks.webhooks import Webhook

from videos.models import Job

from . import outbound
from .models import IdempotencyKey, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)
D = WebhookDelivery.State
LEASE = timedelta(minutes=2)
SWEEP_BATCH = 500


def _file_url(job: Job, *, quality: str = "") -> str:
    path = reverse("api:video_file", kwargs={"video_id": job.pk})
    return settings.PUBLIC_BASE_URL + path + (f"?quality={quality}" if quality else "")


def event_for_job(job: Job) -> tuple[str, str, dict]:
    """(event key, type, data) for a job's final state."""
    succeeded = job.status == Job.Status.SUCCEEDED
    data = {
        "id": job.pk,
        "status": job.status,
        "video_url": _file_url(job) if succeeded and job.video_file else None,
        "error": job.error_message or None,
    }
    return f"video:{job.pk}", "video.succeeded" if succeeded else "video.failed", data


def event_for_upgrade(job: Job, *, reference: str, quality: str, succeeded: bool, error: str) -> tuple[str, str, dict]:
    """(event key, type, data) for the end of an upgrade; `data.id` is the
    video's, `video_url` the upgraded file's."""
    data = {
        "id": job.pk,
        "status": "succeeded" if succeeded else "failed",
        "video_url": _file_url(job, quality=quality) if succeeded else None,
        "error": error or None,
    }
    return f"upgrade:{reference}", "upgrade.succeeded" if succeeded else "upgrade.failed", data


def webhook_event_record(*, user_id: int, event_key: str, event_type: str, data: dict) -> WebhookDelivery | None:
    """Queue one event for the user's webhook, once. None when the user has
    no webhook URL or the event was recorded already."""
    url = WebhookEndpoint.objects.filter(user_id=user_id).exclude(url="").values_list("url", flat=True).first()
    if not url:
        return None
    payload = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                user_id=user_id,
                event_key=event_key,
                msg_id="msg_" + secrets.token_urlsafe(18),
                event_type=event_type,
                url=url,
                payload=payload,
                next_attempt_at=timezone.now(),
            )
            transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
    except IntegrityError:
        return None  # announced already
    return delivery


def on_job_finished(sender, *, job_id: int, kind: str, **kwargs) -> None:
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.status not in Job.FINAL:
        return
    key, event_type, data = event_for_job(job)
    webhook_event_record(user_id=job.user_id, event_key=key, event_type=event_type, data=data)


def on_upgrade_finished(
    sender, *, job_id: int, reference: str, quality: str, succeeded: bool, error: str = "", **kwargs
) -> None:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    key, event_type, data = event_for_upgrade(
        job, reference=reference, quality=quality, succeeded=succeeded, error=error
    )
    webhook_event_record(user_id=job.user_id, event_key=key, event_type=event_type, data=data)


def enqueue_delivery(delivery_id: int) -> None:
    async_task("api.tasks.webhook_deliver", delivery_id)


def signed_headers(*, secret: str, msg_id: str, body: str, now=None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    now = now or timezone.now()
    signature = Webhook(secret).sign(msg_id, now, body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}


def webhook_deliver(delivery_id: int) -> bool | None:
    """One attempt. Idempotent: a due pending delivery is claimed with a
    lease; anyone else returns None at once. True when delivered."""
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, state=D.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    # The user's current URL and secret: a URL changed since the event gets
    # the retries; a removed one ends them.
    url, secret = WebhookEndpoint.objects.filter(user_id=delivery.user_id).values_list("url", "secret").first() or (
        "",
        "",
    )
    if not url:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=D.FAILED, last_error="The webhook URL was removed.", lease_until=None, next_attempt_at=None
        )
        return False
    body = json.dumps(delivery.payload, separators=(",", ":"))
    headers = signed_headers(secret=secret, msg_id=delivery.msg_id, body=body)
    sent = outbound.post(url, body=body.encode(), headers=headers)
    done = timezone.now()
    if url != delivery.url:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(url=url)
    if sent.ok:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=D.DELIVERED, delivered_at=done, last_status=sent.status, last_error="", lease_until=None
        )
        log.info("webhook %s delivered (%s)", delivery.msg_id, sent.status)
        return True
    error = sent.error or f"HTTP {sent.status}"
    delays = settings.USER_WEBHOOK_RETRY_DELAYS
    if delivery.attempts > len(delays):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=D.FAILED, last_status=sent.status, last_error=error[:300], lease_until=None, next_attempt_at=None
        )
        log.warning("webhook %s given up after %s attempts: %s", delivery.msg_id, delivery.attempts, error)
        return False
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        last_status=sent.status,
        last_error=error[:300],
        lease_until=None,
        next_attempt_at=done + timedelta(seconds=delays[delivery.attempts - 1]),
    )
    log.info("webhook %s attempt %s failed (%s); retry later", delivery.msg_id, delivery.attempts, error)
    return False


def webhooks_due(now=None) -> int:
    """Hand due deliveries (retries, and tasks lost with a worker) to the
    worker. Returns how many."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(state=D.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for delivery_id in due:
        enqueue_delivery(delivery_id)
    return len(due)


def webhooks_housekeeping(now=None) -> dict[str, int]:
    """Forget idempotency keys past IDEMPOTENCY_KEY_HOURS and finished
    deliveries past USER_WEBHOOK_LOG_DAYS, so neither table grows forever."""
    now = now or timezone.now()
    keys, _ = IdempotencyKey.objects.filter(
        created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    ).delete()
    old, _ = (
        WebhookDelivery.objects.exclude(state=D.PENDING)
        .filter(created_at__lt=now - timedelta(days=settings.USER_WEBHOOK_LOG_DAYS))
        .delete()
    )
    return {"idempotency_keys": keys, "deliveries": old}
