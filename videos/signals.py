"""Signals other apps listen to, sent after the change is committed.

`job_finished(job_id, kind)`: a job reached its final state; kind is
"ready" or "failed". `upgrade_finished(job_id, reference, quality,
succeeded, error)`: a quality upgrade of a finished video ended
(`reference` names that upgrade uniquely, as its ledger charge does). Receivers must not raise into the
settle path: they are sent with send_robust.
"""

from django.db import transaction
from django.dispatch import Signal

job_finished = Signal()
upgrade_finished = Signal()


def job_finished_after_commit(job_id: int, kind: str) -> None:
    transaction.on_commit(lambda: job_finished.send_robust(sender=None, job_id=job_id, kind=kind))


def upgrade_finished_after_commit(
    job_id: int, *, reference: str, quality: str, succeeded: bool, error: str = ""
) -> None:
    transaction.on_commit(
        lambda: upgrade_finished.send_robust(
            sender=None, job_id=job_id, reference=reference, quality=quality, succeeded=succeeded, error=error
        )
    )
