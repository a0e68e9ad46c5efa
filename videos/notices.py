"""Telling a user that a video is ready or failed: an in-app notice, and an
email if they opted in. Called after the job's final state is committed;
at most one notice of each kind per job (a unique key)."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import signals
from .models import Job, Notice, NoticePreference

log = logging.getLogger(__name__)


def notice_after_commit(job_id: int, kind: str) -> None:
    """Call inside the transaction that makes a job final."""
    transaction.on_commit(lambda: notice_send(job_id=job_id, kind=kind))
    signals.job_finished_after_commit(job_id, kind)  # e.g. the user's webhook (api app)


def notice_send(*, job_id: int, kind: str) -> Notice | None:
    job = Job.objects.select_related("user").get(pk=job_id)
    try:
        with transaction.atomic():
            notice = Notice.objects.create(user=job.user, job=job, kind=kind)
    except IntegrityError:
        return None  # told already
    wants_email = NoticePreference.objects.filter(user=job.user, email=True).exists()
    if wants_email and job.user.email:
        with translation.override(job.language):
            subject, body = _email(job, kind)
        try:
            send_mail(subject, body, None, [job.user.email])
        except OSError as exc:  # the notice in the app stands; mail is best effort
            log.warning("job %s: notice email failed: %s", job.pk, exc)
    return notice


def _email(job: Job, kind: str) -> tuple[str, str]:
    link = settings.PUBLIC_BASE_URL + reverse("videos:detail", args=[job.pk])
    if kind == Notice.Kind.READY:
        body = _("Your video #%(id)s is ready:") % {"id": job.pk}
        return _("Your video is ready"), f"{body}\n\n{link}\n\n“{job.prompt[:200]}”"
    failed = _("Your video #%(id)s failed: %(reason)s") % {"id": job.pk, "reason": job.error_message}
    returned = _("Its %(n)s credits were returned to your balance.") % {"n": job.price_credits}
    return _("Your video could not be made"), f"{failed}\n\n{returned}\n\n{link}"


def notices_unread(user) -> int:
    return Notice.objects.filter(user=user, read_at__isnull=True).count()


def notices_mark_read(user) -> int:
    return Notice.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def notice_preference_set(*, user, email: bool) -> None:
    NoticePreference.objects.update_or_create(user=user, defaults={"email": email})
