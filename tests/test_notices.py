"""A user learns that a video is ready or failed (and refunded): an in-app
notice always, an email when they opted in; once per job."""

import time

from django.core import mail

from videos.models import Notice
from videos.notices import notice_send

from .conftest import submit, wait_for
from .helpers import job_after, settled


def notified(job, kind: str) -> None:
    """Wait for the job's notice: it is sent just after the final state commits."""
    wait_for(lambda: Notice.objects.filter(job=job, kind=kind).exists())


def test_ready_and_failed_notices_in_the_app(live, sim, alice_client, alice):
    ready = settled(job_after(submit(alice_client)))
    failed = settled(job_after(submit(alice_client, prompt="x [sim:fail]")), "failed")
    notified(ready, "ready")
    notified(failed, "failed")
    assert set(Notice.objects.filter(user=alice).values_list("job_id", "kind")) == {
        (ready.pk, "ready"),
        (failed.pk, "failed"),
    }
    page = alice_client.get("/videos/").content.decode()
    assert '<span class="count" data-unread aria-hidden="true">2</span>' in page and "Notices: 2 unread" in page
    html = alice_client.get("/videos/notices/").content.decode()
    assert f"Video #{ready.pk}</a>\n            is ready." in html
    assert "10 credits were returned" in html
    assert "data-unread" not in alice_client.get("/videos/").content.decode()  # seen
    assert mail.outbox == []  # no email without opting in


def test_email_when_opted_in(live, sim, alice_client, alice):
    alice_client.post("/videos/notices/", {"email": "on"})
    job = settled(job_after(submit(alice_client)))
    wait_for(lambda: mail.outbox)
    assert [m.subject for m in mail.outbox] == ["Your video is ready"]
    assert mail.outbox[0].to == ["alice@example.com"] and f"/videos/{job.pk}/" in mail.outbox[0].body
    settled(job_after(submit(alice_client, prompt="y [sim:fail]")), "failed")
    wait_for(lambda: len(mail.outbox) == 2)
    assert mail.outbox[-1].subject == "Your video could not be made" and "credits were returned" in mail.outbox[-1].body
    alice_client.post("/videos/notices/", {})  # opted out again
    quiet = settled(job_after(submit(alice_client)))
    notified(quiet, "ready")
    time.sleep(0.3)  # an email would follow the in-app notice at once
    assert len(mail.outbox) == 2


def test_one_notice_per_job_and_kind(live, sim, alice_client, alice):
    job = settled(job_after(submit(alice_client)))
    wait_for(lambda: Notice.objects.filter(job=job).exists())  # sent just after the final state is committed
    assert notice_send(job_id=job.pk, kind="ready") is None
    assert Notice.objects.filter(job=job).count() == 1


def test_notices_are_private(alice_client, bob_client, bob, alice):
    from videos.models import Job

    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="succeeded")
    Notice.objects.create(user=alice, job=job, kind="ready")
    assert f"Video #{job.pk}" not in bob_client.get("/videos/notices/").content.decode()
