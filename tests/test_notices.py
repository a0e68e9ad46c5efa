"""A user learns that a video is ready or failed (and refunded): an in-app
notice always, an email when they opted in; once per job. The notice is
written with the job's final state (one transaction); the email follows the
commit, so tests wait for the email itself."""

import pytest
from django.core import mail
from django.db import transaction

from videos.models import Job, Notice, NoticePreference
from videos.notices import notice_send
from videos.services import job_fail

from .conftest import submit, wait_for
from .helpers import job_after, settled


def test_ready_and_failed_notices_in_the_app(live, sim, alice_client, alice):
    ready = settled(job_after(submit(alice_client)))
    failed = settled(job_after(submit(alice_client, prompt="x [sim:fail]")), "failed")
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
    wait_for(lambda: mail.outbox)  # sent once the job's final state (and its notice) committed
    assert [m.subject for m in mail.outbox] == ["Your video is ready"]
    assert mail.outbox[0].to == ["alice@example.com"] and f"/videos/{job.pk}/" in mail.outbox[0].body
    settled(job_after(submit(alice_client, prompt="y [sim:fail]")), "failed")
    wait_for(lambda: len(mail.outbox) == 2)
    assert mail.outbox[-1].subject == "Your video could not be made" and "credits were returned" in mail.outbox[-1].body
    alice_client.post("/videos/notices/", {})  # opted out again
    quiet = settled(job_after(submit(alice_client)))
    assert Notice.objects.filter(job=quiet, kind="ready").exists()
    # The email hook runs before the app answers the provider's callback:
    # once the simulator has its answer, an email would be here.
    wait_for(lambda: sim.calls("callback") == 3)
    assert len(mail.outbox) == 2


def test_one_notice_per_job_and_kind(live, sim, alice_client, alice):
    job = settled(job_after(submit(alice_client)))
    assert notice_send(job_id=job.pk, kind="ready") is None
    assert Notice.objects.filter(job=job).count() == 1


def test_the_notice_commits_with_the_final_state(alice, django_capture_on_commit_callbacks):
    """Nobody sees a final job without its notice (not the user's next page,
    not a crash just after the commit); the email waits for the commit."""
    NoticePreference.objects.create(user=alice, email=True)
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="submitted")
    with django_capture_on_commit_callbacks(execute=True):
        assert job_fail(job.pk, reason="The provider said no.")
        assert list(Notice.objects.filter(job=job).values_list("kind", flat=True)) == ["failed"]
        assert mail.outbox == []  # not before the commit
    assert [m.subject for m in mail.outbox] == ["Your video could not be made"]

    other = Job.objects.create(user=alice, prompt="q", price_credits=10, status="submitted")
    with pytest.raises(RuntimeError), transaction.atomic():
        job_fail(other.pk, reason="The provider said no.")
        raise RuntimeError("the settle's transaction rolls back")
    assert not Notice.objects.filter(job=other).exists()
    assert Job.objects.get(pk=other.pk).status == "submitted"


def test_notices_are_private(alice_client, bob_client, bob, alice):
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="succeeded")
    Notice.objects.create(user=alice, job=job, kind="ready")
    assert f"Video #{job.pk}" not in bob_client.get("/videos/notices/").content.decode()
