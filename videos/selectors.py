"""Reads of video jobs, for pages and status.json."""

from django.conf import settings
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry

from .models import Job, Upgrade

S = Job.Status

GALLERY_FIELDS = (
    "id",
    "user_id",
    "prompt",
    "model",
    "generation_type",
    "aspect_ratio",
    "status",
    "price_credits",
    "error_message",
    "video_file",
    "poster",
    "share_token",
    "language",
    "seed",
    "created_at",
    "submitted_at",
    "finished_at",
    "parent",  # the card names the video an extension continues
)


def jobs_of(user):
    """A user's videos, deleted ones left out."""
    return Job.objects.filter(user=user, deleted_at__isnull=True).order_by("-id")


def gallery_jobs(user, *, statuses=None, model: str = "", query: str = ""):
    jobs = jobs_of(user)
    if statuses:
        jobs = jobs.filter(status__in=statuses)
    if model:
        jobs = jobs.filter(model=model)
    if query:
        jobs = jobs.filter(prompt__icontains=query)
    return jobs.only(*GALLERY_FIELDS)


def job_for_viewer(user, pk: int):
    """Owner's job, or any job for staff; None otherwise (the view answers
    404). A deleted video is gone from the pages for everyone (operators
    still see it in the admin)."""
    qs = Job.objects.all() if user.is_staff else Job.objects.filter(user=user)
    return qs.filter(pk=pk, deleted_at__isnull=True).first()


def progress(job: Job, now=None) -> int:
    """An estimate in percent, from the model's typical duration."""
    if job.status in Job.FINAL:
        return 100
    if job.status == S.DOWNLOADING:
        return 95
    if job.status in (S.QUEUED, S.SUBMITTING) or not job.submitted_at:
        return 2
    elapsed = ((now or timezone.now()) - job.submitted_at).total_seconds()
    typical = settings.VEO_TYPICAL_SECONDS.get(job.model, 180)
    # Linear to 90 % at the typical time, then creeping toward 94 %.
    if elapsed <= typical:
        return max(3, int(90 * elapsed / typical))
    return min(94, 90 + int(4 * (elapsed - typical) / typical))


def video_url(job: Job) -> str | None:
    if job.status == S.SUCCEEDED and job.video_file:
        return reverse("videos:file", args=[job.pk])
    return None


def status_payload(job: Job) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "progress": progress(job),
        "video_url": video_url(job),
        "error": job.error_message or None,
        "poster_url": reverse("videos:poster", args=[job.pk]) if job.poster else None,
    }


def was_refunded(job: Job) -> bool:
    return LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFUND, reference=job.charge_reference).exists()


def stated_costs(since) -> dict:
    """What the provider said tasks cost (creditsConsumed) against what our
    price table expected, for reconciliation: per day, and the tasks where
    the two differ (newest first, at most 20)."""
    jobs = Job.objects.filter(credits_consumed__isnull=False, finished_at__gte=since)
    upgrades = Upgrade.objects.filter(credits_consumed__isnull=False, created_at__gte=since)
    expected_of_upgrade = dict(
        LedgerEntry.objects.filter(kind="charge", reference__in=upgrades.values("reference")).values_list(
            "reference", "provider_credits"
        )
    )
    days: dict = {}
    mismatches = []
    rows = [
        (f"video #{pk}", day, expected, stated)
        for pk, day, expected, stated in jobs.annotate(day=TruncDate("finished_at")).values_list(
            "pk", "day", "provider_credits", "credits_consumed"
        )
    ] + [
        (f"{kind} of video #{job_id}", day, expected_of_upgrade.get(reference, 0), stated)
        for job_id, kind, reference, day, stated in upgrades.annotate(day=TruncDate("created_at")).values_list(
            "job_id", "kind", "reference", "day", "credits_consumed"
        )
    ]
    for label, day, expected, stated in rows:
        totals = days.setdefault(day, {"tasks": 0, "expected": 0, "stated": 0})
        totals["tasks"] += 1
        totals["expected"] += expected
        totals["stated"] += stated
        if stated != expected:
            mismatches.append({"task": label, "day": day, "expected": expected, "stated": stated})
    return {"days": days, "mismatches": mismatches[-20:][::-1]}
