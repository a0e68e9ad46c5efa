"""Move every 1080p upgrade out of Job's hd_* columns into Upgrade rows,
losing nothing: the last round from the columns (with its ledger reference
hd:<job>:<round>, so a refund still finds its charge), and each earlier,
failed and refunded round from its ledger charge. Reversible: the latest
upgrade of each job goes back into the columns."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def forward(apps, schema_editor):
    Job = apps.get_model("videos", "Job")
    Upgrade = apps.get_model("videos", "Upgrade")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    deadline = timedelta(seconds=settings.JOB_DEADLINE_SECONDS)
    for job in Job.objects.exclude(hd_status="").iterator():
        asked = job.hd_requested_at or job.finished_at or job.created_at
        pending = job.hd_status == "pending"
        Upgrade.objects.create(
            job=job,
            kind="1080p",
            status=job.hd_status,
            price_credits=job.hd_price_credits or 0,
            reference=f"hd:{job.pk}:{job.hd_round}",
            task_id=job.task_id or "",
            file=job.hd_file,
            attempts=job.hd_attempts,
            next_attempt_at=job.hd_next_at if pending else None,
            deadline_at=max(asked + deadline, timezone.now()) if pending else None,
            error=job.hd_error,
            created_at=asked,
            finished_at=None,  # the columns never recorded it
        )
    for charge in LedgerEntry.objects.filter(kind="charge", reference__startswith="hd:").order_by("id"):
        if Upgrade.objects.filter(reference=charge.reference).exists():
            continue
        job_id = int(charge.reference.split(":")[1])
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            continue
        refund = LedgerEntry.objects.filter(kind="refund", reference=charge.reference).first()
        Upgrade.objects.create(
            job=job,
            kind="1080p",
            status="failed",  # a round was asked again only after it failed
            price_credits=-charge.amount,
            reference=charge.reference,
            task_id=job.task_id or "",
            created_at=charge.created_at,
            finished_at=refund.created_at if refund else charge.created_at,
        )


def backward(apps, schema_editor):
    Job = apps.get_model("videos", "Job")
    Upgrade = apps.get_model("videos", "Upgrade")
    for job in Job.objects.filter(upgrades__isnull=False).distinct().iterator():
        rounds = Upgrade.objects.filter(job=job, kind="1080p")
        last = rounds.order_by("-id").first()
        Job.objects.filter(pk=job.pk).update(
            hd_status=last.status,
            hd_price_credits=last.price_credits,
            hd_file=last.file,
            hd_error=last.error,
            hd_attempts=last.attempts,
            hd_round=rounds.count(),
            hd_next_at=last.next_attempt_at,
            hd_requested_at=last.created_at,
        )
        Upgrade.objects.filter(job=job).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("videos", "0008_upgrade"),
        ("billing", "0004_provider_balance"),
    ]

    operations = [migrations.RunPython(forward, backward)]
