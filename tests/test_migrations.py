"""The move of the 1080p upgrade from Job's columns into Upgrade rows loses
nothing, and a refund after the move still finds the charge."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("videos", "0007_request_choices"), ("billing", "0004_provider_balance")]
AFTER = [("videos", "0010_remove_job_hd_columns")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_hd_columns_become_upgrade_rows_with_nothing_lost(django_user_model):
    old = migrate(BEFORE)
    User = old.get_model("auth", "User")
    Job, LedgerEntry = old.get_model("videos", "Job"), old.get_model("billing", "LedgerEntry")
    user = User.objects.create(username="old-timer")
    now = timezone.now()
    common = {"user": user, "prompt": "p", "price_credits": 10, "status": "succeeded", "aspect_ratio": "16:9"}
    done = Job.objects.create(
        **common,
        task_id="t1",
        hd_status="succeeded",
        hd_price_credits=2,
        hd_file="videos/1/x-1080p.mp4",
        hd_attempts=3,
        hd_round=2,
        hd_requested_at=now,
    )
    waiting = Job.objects.create(
        **common,
        task_id="t2",
        hd_status="pending",
        hd_price_credits=2,
        hd_attempts=1,
        hd_round=1,
        hd_next_at=now,
        hd_requested_at=now,
    )
    plain = Job.objects.create(**common, task_id="t3")
    balance = 100
    for amount, kind, reference in [
        (-2, "charge", f"hd:{done.pk}:1"),
        (2, "refund", f"hd:{done.pk}:1"),  # round 1 failed, refunded
        (-2, "charge", f"hd:{done.pk}:2"),
        (-2, "charge", f"hd:{waiting.pk}:1"),
    ]:
        balance += amount
        LedgerEntry.objects.create(user=user, kind=kind, amount=amount, balance_after=balance, reference=reference)

    new = migrate(AFTER)
    Upgrade = new.get_model("videos", "Upgrade")
    rows = {(u.job_id, u.reference): u for u in Upgrade.objects.all()}
    assert set(rows) == {(done.pk, f"hd:{done.pk}:1"), (done.pk, f"hd:{done.pk}:2"), (waiting.pk, f"hd:{waiting.pk}:1")}
    first, second = rows[(done.pk, f"hd:{done.pk}:1")], rows[(done.pk, f"hd:{done.pk}:2")]
    assert (first.status, first.price_credits) == ("failed", 2)
    assert (second.status, second.file.name, second.attempts, second.kind) == (
        "succeeded",
        "videos/1/x-1080p.mp4",
        3,
        "1080p",
    )
    pending = rows[(waiting.pk, f"hd:{waiting.pk}:1")]
    assert pending.status == "pending" and pending.next_attempt_at == now and pending.deadline_at > now
    assert pending.task_id == "t2" and not Upgrade.objects.filter(job_id=plain.pk).exists()
    assert not any(f.name.startswith("hd_") for f in new.get_model("videos", "Job")._meta.fields)

    # Back to today's schema: the pending upgrade, failed now, is refunded
    # under the reference its charge was written with.
    migrate_to_latest()
    from billing.models import LedgerEntry as Ledger
    from videos.models import Upgrade as LiveUpgrade
    from videos.services import upgrade_fail

    assert upgrade_fail(LiveUpgrade.objects.get(pk=pending.pk), reason="gone")
    assert Ledger.objects.filter(kind="refund", reference=f"hd:{waiting.pk}:1", amount=2).count() == 1


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
