"""Telling a user that a video is ready or failed: an in-app notice, and an
email if they opted in; at most one notice of each kind per job (a unique
key).

The notice row is written in the same transaction that makes the job final,
so nobody (the user's next page, a test, a crash just after the commit) ever
sees a final job without its notice. Only the email, which the database
cannot take back, waits for the commit; it stays best effort.
"""

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
    """Call inside the transaction that makes a job final: the notice is part
    of that transaction; its email (if the user opted in) and the
    `job_finished` signal (e.g. the user's webhook, api app) go once it
    commits."""
    notice = _notice_record(job_id, kind)
    if notice is not None:
        # robust: a mail fault is logged and never stops the hooks after it.
        transaction.on_commit(lambda: _notice_email(notice), robust=True)
    signals.job_finished_after_commit(job_id, kind)


def notice_send(*, job_id: int, kind: str) -> Notice | None:
    """Tell the user now, outside any job transaction. Returns None when
    they were told already."""
    with transaction.atomic():
        notice = _notice_record(job_id, kind)
    if notice is not None:
        _notice_email(notice)
    return notice


def _notice_record(job_id: int, kind: str) -> Notice | None:
    job = Job.objects.select_related("user").get(pk=job_id)
    try:
        with transaction.atomic():  # a savepoint: a duplicate leaves the caller's transaction intact
            return Notice.objects.create(user=job.user, job=job, kind=kind)
    except IntegrityError:
        return None  # told already


def _notice_email(notice: Notice) -> None:
    job = Job.objects.select_related("user").filter(pk=notice.job_id).first()
    if job is None:  # deleted by its owner in the meantime
        return
    wants_email = NoticePreference.objects.filter(user=job.user, email=True).exists()
    if not (wants_email and job.user.email):
        return
    with translation.override(job.language):
        subject, body = _email(job, notice.kind)
    try:
        send_mail(subject, body, None, [job.user.email])
    except OSError as exc:  # the notice in the app stands; mail is best effort
        log.warning("job %s: notice email failed: %s", job.pk, exc)


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
