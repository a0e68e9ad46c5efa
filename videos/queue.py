"""Plumbing below the services: handing work to the background worker and
writing down every provider call. It imports no service, so every service
(and the dispatcher) can use it without a loop."""

from django.utils import timezone
from django_q.tasks import async_task

from . import kie
from .models import Job, ProviderCall


def enqueue(task: str, object_id: int, *, mark: bool = True) -> None:
    """Hand one `videos.tasks.<task>(object_id)` to the worker (django-q2).

    For a job, note when (unless the caller's own update did): the sweep
    hands a job out again if its task never ran.
    """
    if mark:
        Job.objects.filter(pk=object_id).update(enqueued_at=timezone.now())
    async_task(f"videos.tasks.{task}", object_id, task_name=f"{task}:{object_id}", group=task)


def recorder(job_id: int | None) -> kie.Recorder:
    """A kie.Recorder that keeps each call in the job's provider history."""

    def record(call: kie.CallRecord) -> None:
        ProviderCall.objects.create(
            job_id=job_id,
            endpoint=call.endpoint,
            http_status=call.http_status,
            code=call.code,
            duration_ms=call.duration_ms,
            error=call.error,
        )

    return record
