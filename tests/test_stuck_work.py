"""No stuck work: every non-final state ends, and faults end in a bounded
retry or a failure with a refund.

Jobs in `downloading` meet a real loopback video host scripted per job
(whole files, 503s, files cut short, pages that are not videos) and worker
faults (storage down, so the task itself raises; tasks lost; tasks run twice),
in any order hypothesis picks, with time moving on. Tasks run as the worker
runs them (django-q2, synchronously in tests): an exception inside one is
recorded by django-q2 and the job must still move on. In the end every job
is final, refunded exactly when it failed, holds no running slot, and
storage holds exactly the succeeded jobs' files.
"""

import importlib.util
import itertools
import json
import pydoc
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing.models import LedgerEntry
from billing.selectors import balance_of, ledger_sum_of
from billing.services import breaker_trip, credits_charge
from kiesim.server import SAMPLES
from videos import dispatch, services
from videos.models import Job, Upgrade
from videos.retry import RULES
from videos.vocabulary import VideoRequest

from .conftest import make_user

MAX_DOWNLOAD_ATTEMPTS = len(RULES["download"].delays()) + 1  # the first attempt and its retries

S = Job.Status
SAMPLE = SAMPLES["landscape"]
TIMESTAMPS = ("created_at", "deadline_at", "next_attempt_at", "lease_until", "enqueued_at", "submitted_at")
SCRIPTS: dict[str, list[str]] = {}
TAILS: dict[str, str] = {}


class ScriptedHost(BaseHTTPRequestHandler):
    """Each job's URL answers with the next behaviour of its script, then
    with its tail behaviour for ever."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/api/v1/veo/get-1080p-video"):
            return self.hd_answer()
        key = self.path.strip("/").split(".")[0]
        script = SCRIPTS.get(key, [])
        behaviour = script.pop(0) if script else TAILS.get(key, "503")
        body = {"whole": SAMPLE, "cut": SAMPLE[: len(SAMPLE) // 2], "html": b"<!--ftyp--><html></html>"}.get(
            behaviour, b"busy"
        )
        self.send_response(503 if behaviour == "503" else 200)
        self.send_header("Content-Length", str(len(SAMPLE) if behaviour == "cut" else len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def hd_answer(self):
        """The provider's get-1080p-video, scripted per task id: still
        processing (400), a server error, or ready with a URL on this host."""
        key = parse_qs(urlsplit(self.path).query).get("taskId", [""])[0]
        script = API_SCRIPTS.get(key, [])
        answer = script.pop(0) if script else API_TAILS.get(key, "processing")
        status, body = {
            "processing": (200, {"code": 400, "msg": "1080p is still processing"}),
            "error": (500, {"code": 500, "msg": "internal error"}),
            "ready": (200, {"code": 200, "msg": "success", "data": {"resultUrl": f"{self.base}/{key}-hd.mp4"}}),
        }[answer]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


API_SCRIPTS: dict[str, list[str]] = {}
API_TAILS: dict[str, str] = {}


@pytest.fixture(scope="module")
def video_host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHost)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class StorageOutage:
    """Storage that fails while `down` (a full disk, an unreachable bucket):
    the download task then raises something that is not a DownloadError."""

    def __init__(self, monkeypatch):
        self.down = False
        real_save = default_storage.save

        def save(name, content, *args, **kwargs):
            if self.down:
                raise OSError(28, "No space left on device")
            return real_save(name, content, *args, **kwargs)

        monkeypatch.setattr(default_storage, "save", save)


@pytest.fixture
def storage(monkeypatch):
    return StorageOutage(monkeypatch)


class Worker:
    """The background worker, driven by the test: tasks handed out land in
    `queue`; running one does what a django-q2 worker does (call it; an
    exception is recorded as a failed task, and the worker goes on)."""

    def __init__(self, monkeypatch):
        self.queue: list[tuple[str, tuple]] = []
        self.failures: list[str] = []

        def collect(func, *args, **kwargs):
            self.queue.append((func, args))

        monkeypatch.setattr("django_q.tasks.async_task", collect)
        if importlib.util.find_spec("videos.queue"):
            monkeypatch.setattr("videos.queue.async_task", collect, raising=False)

    def run(self, func: str, *args) -> None:
        try:
            pydoc.locate(func)(*args)
        except Exception as exc:  # what django-q2 does: record, move on
            self.failures.append(f"{func}{args}: {exc!r}")

    def run_all(self) -> None:
        for _ in range(1000):
            if not self.queue:
                return
            self.run(*self.pop(0))

    def pop(self, index: int) -> tuple:
        func, args = self.queue.pop(index)
        return (func, *args)


@pytest.fixture
def worker(monkeypatch):
    return Worker(monkeypatch)


def advance(job_ids: list[int], seconds: float) -> None:
    """Time passes for these jobs: every timestamp they carry moves back."""
    delta = timedelta(seconds=seconds)
    for field in TIMESTAMPS:
        Job.objects.filter(pk__in=job_ids, **{f"{field}__isnull": False}).update(**{field: F(field) - delta})


def tick(worker: Worker) -> None:
    worker.run("videos.tasks.tick")
    worker.run_all()


counter = itertools.count()
BEHAVIOURS = st.sampled_from(["whole", "503", "cut", "html"])
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(
            ["attempt", "attempt", "redeliver", "run_queued", "lose", "tick", "time", "storage_down", "storage_up"]
        ),
        st.integers(min_value=0, max_value=20),
    ),
    max_size=25,
)


def play(events, ids, *, task, make_due, advance, worker, storage, user, tally) -> None:
    """Play hypothesis' events against rows `ids` (jobs or upgrades) whose
    work is `task`; the ledger must balance after every event."""
    for event, n in events:
        row_id = ids[n % len(ids)]
        if event == "attempt":  # the task, when its retry time has come
            make_due(row_id)
            worker.run(task, row_id)
        elif event == "redeliver":  # the same task again, whenever (at least once delivery)
            worker.run(task, row_id)
        elif event == "run_queued" and worker.queue:
            worker.run(*worker.pop(n % len(worker.queue)))
        elif event == "lose" and worker.queue:
            worker.queue.pop(n % len(worker.queue))
        elif event == "tick":
            worker.run("videos.tasks.tick")
        elif event == "time":
            advance(ids, (30, 120, 600, 1800)[n % 4])
        elif event == "storage_down":
            storage.down = True
        elif event == "storage_up":
            storage.down = False
        tally.inputs += 1
        assert balance_of(user.pk) == ledger_sum_of(user.pk)


def downloading_jobs(user, host: str, scripts: list[list[str]], tails: list[str]) -> list[int]:
    FILES_BEFORE[user.pk] = user_files(user)
    ids = []
    for script, tail in zip(scripts, tails, strict=True):
        key = f"k{next(counter)}"
        SCRIPTS[key], TAILS[key] = list(script), tail
        job = Job.objects.create(
            user=user,
            prompt="p",
            price_credits=4,
            status=S.DOWNLOADING,
            provider_video_url=f"{host}/{key}.mp4",
            deadline_at=timezone.now() + timedelta(seconds=django_settings.JOB_DEADLINE_SECONDS),
        )
        credits_charge(user_id=user.pk, amount=4, reference=job.charge_reference, reason="test")
        ids.append(job.pk)
    return ids


def drain(worker: Worker, job_ids: list[int]) -> None:
    """Let time pass and the worker and the sweep run until the deadline is long gone."""
    worker.run_all()
    for _ in range(MAX_DOWNLOAD_ATTEMPTS + 3):
        advance(job_ids, 900)
        tick(worker)
    advance(job_ids, django_settings.JOB_DEADLINE_SECONDS + 60)
    tick(worker)


def assert_settled(user, job_ids: list[int], tally) -> None:
    left = Job.objects.filter(pk__in=job_ids).exclude(status__in=Job.FINAL).count()
    tally.jobs_left_non_final += left
    assert left == 0, list(Job.objects.filter(pk__in=job_ids).values_list("status", "attempts"))
    assert balance_of(user.pk) == ledger_sum_of(user.pk) >= 0
    assert not Job.objects.filter(dispatch.RUNNING, pk__in=job_ids).exists()  # every slot released
    kept = set()
    for job in Job.objects.filter(pk__in=job_ids):
        refunds = LedgerEntry.objects.filter(kind="refund", reference=job.charge_reference).count()
        if job.status == S.SUCCEEDED:
            assert refunds == 0 and job.video_sha256
            with default_storage.open(job.video_file.name) as f:
                assert f.read() == SAMPLE
            kept.add(job.video_file.name.rsplit("/", 1)[-1])
        else:
            assert refunds == 1 and not job.video_file and job.error_message
    stored = user_files(user) - FILES_BEFORE.get(user.pk, set())
    tally.partial_writes += len(stored - kept)
    assert stored == kept, "files left behind by failed or lost downloads"


FILES_BEFORE: dict[int, set[str]] = {}


def user_files(user) -> set[str]:
    """The files in the user's video folder (ids, hence folders, can repeat
    across tests; the media folder lives for the whole run)."""
    folder = f"videos/{user.pk}"
    return set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scripts=st.lists(st.lists(BEHAVIOURS, max_size=6), min_size=1, max_size=3),
    tail=BEHAVIOURS,
    events=EVENTS,
    outage_persists=st.booleans(),
)
def test_downloads_end_final_whatever_happens(
    scripts, tail, events, outage_persists, video_host, storage, worker, django_user_model, hostile_tally
):
    user = make_user(django_user_model, f"dl{next(counter)}", credits=1000)
    job_ids = downloading_jobs(user, video_host.rstrip("/"), scripts, [tail] * len(scripts))
    storage.down = False
    play(
        events,
        job_ids,
        task="videos.tasks.download_job",
        make_due=lambda job_id: Job.objects.filter(pk=job_id).update(next_attempt_at=None),
        advance=advance,
        worker=worker,
        storage=storage,
        user=user,
        tally=hostile_tally,
    )
    if outage_persists:  # storage stays down until long past the deadline
        storage.down = True
    drain(worker, job_ids)
    assert_settled(user, job_ids, hostile_tally)


def test_a_download_that_always_raises_fails_with_a_refund(video_host, storage, worker, alice, hostile_tally):
    storage.down = True
    job_ids = downloading_jobs(alice, video_host, [["whole"]], ["whole"])
    hostile_tally.inputs += 1
    drain(worker, job_ids)
    assert_settled(alice, job_ids, hostile_tally)
    assert Job.objects.get(pk=job_ids[0]).status == S.FAILED


def test_an_unparseable_result_url_fails_at_once_with_a_refund(alice, worker, hostile_tally):
    job = Job.objects.create(user=alice, prompt="p", price_credits=4, status=S.DOWNLOADING)
    credits_charge(user_id=alice.pk, amount=4, reference=job.charge_reference, reason="test")
    Job.objects.filter(pk=job.pk).update(provider_video_url="http://[::1/v.mp4")
    hostile_tally.inputs += 1
    worker.run("videos.tasks.download_job", job.pk)
    assert worker.failures == []
    job.refresh_from_db()
    assert job.status == S.FAILED and job.attempts == 1
    assert LedgerEntry.objects.filter(kind="refund", reference=job.charge_reference).count() == 1


def test_downloading_has_a_deadline(video_host, worker, alice, hostile_tally):
    """Lost for good (no task ever runs): the sweep still ends it by the deadline."""
    job_ids = downloading_jobs(alice, video_host, [[]], ["503"])
    Job.objects.filter(pk__in=job_ids).update(lease_until=timezone.now() + timedelta(days=1))  # a worker holds it
    advance(job_ids, django_settings.JOB_DEADLINE_SECONDS + 1)
    tick(worker)
    hostile_tally.inputs += 1
    assert_settled(alice, job_ids, hostile_tally)


# --- upgrades (derived work) ---------------------------------------------------

U = Upgrade.Status
UPGRADE_TIMESTAMPS = ("created_at", "deadline_at", "next_attempt_at")
API_ANSWERS = st.sampled_from(["processing", "error", "ready"])


def advance_upgrades(upgrade_ids: list[int], seconds: float) -> None:
    delta = timedelta(seconds=seconds)
    for field in UPGRADE_TIMESTAMPS:
        Upgrade.objects.filter(pk__in=upgrade_ids, **{f"{field}__isnull": False}).update(**{field: F(field) - delta})


def upgrades_for(user, scripts, api_scripts, api_tail: str, file_tail: str) -> list[int]:
    """Finished 16:9 videos, each with a charged 1080p upgrade scripted on the host."""
    FILES_BEFORE[user.pk] = user_files(user)
    ids = []
    for script, api_script in zip(scripts, api_scripts, strict=True):
        key = f"t{next(counter)}"
        SCRIPTS[f"{key}-hd"], TAILS[f"{key}-hd"] = list(script), file_tail
        API_SCRIPTS[key], API_TAILS[key] = list(api_script), api_tail
        job = Job.objects.create(
            user=user, prompt="p", price_credits=0, status=S.SUCCEEDED, aspect_ratio="16:9", task_id=key
        )
        ids.append(services.upgrade_request(job=job).pk)
    return ids


def drain_upgrades(worker: Worker, upgrade_ids: list[int]) -> None:
    worker.run_all()
    for _ in range(6):
        advance_upgrades(upgrade_ids, 900)
        tick(worker)
    advance_upgrades(upgrade_ids, django_settings.JOB_DEADLINE_SECONDS + 60)
    tick(worker)


def assert_upgrades_settled(user, upgrade_ids: list[int], tally) -> None:
    left = Upgrade.objects.filter(pk__in=upgrade_ids, status=U.PENDING).count()
    tally.jobs_left_non_final += left
    assert left == 0
    assert balance_of(user.pk) == ledger_sum_of(user.pk) >= 0
    kept = set()
    for upgrade in Upgrade.objects.filter(pk__in=upgrade_ids):
        charges = LedgerEntry.objects.filter(kind="charge", reference=upgrade.reference).count()
        refunds = LedgerEntry.objects.filter(kind="refund", reference=upgrade.reference).count()
        assert charges == 1
        if upgrade.status == U.SUCCEEDED:
            assert refunds == 0
            with default_storage.open(upgrade.file.name) as f:
                assert f.read() == SAMPLE
            kept.add(upgrade.file.name.rsplit("/", 1)[-1])
        else:
            assert upgrade.status == U.FAILED and refunds == 1 and not upgrade.file and upgrade.error
    stored = user_files(user) - FILES_BEFORE.get(user.pk, set())
    tally.partial_writes += len(stored - kept)
    assert stored == kept, "files left behind by failed or lost upgrades"


@pytest.fixture
def provider_is_the_host(settings, video_host):
    settings.KIE_API_BASE_URL = video_host
    settings.KIE_API_KEY = "test-key"


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scripts=st.lists(st.lists(BEHAVIOURS, max_size=4), min_size=1, max_size=2),
    api_script=st.lists(API_ANSWERS, max_size=5),
    api_tail=API_ANSWERS,
    file_tail=BEHAVIOURS,
    events=EVENTS,
    outage_persists=st.booleans(),
)
def test_upgrades_end_final_whatever_happens(
    scripts,
    api_script,
    api_tail,
    file_tail,
    events,
    outage_persists,
    provider_is_the_host,
    storage,
    worker,
    django_user_model,
    hostile_tally,
):
    user = make_user(django_user_model, f"up{next(counter)}", credits=1000)
    storage.down = False
    upgrade_ids = upgrades_for(user, scripts, [api_script] * len(scripts), api_tail, file_tail)
    worker.queue.clear()  # the request's own task is handed out on commit, which a test transaction never reaches
    play(
        events,
        upgrade_ids,
        task="videos.tasks.upgrade_job",
        make_due=lambda upgrade_id: Upgrade.objects.filter(pk=upgrade_id, status=U.PENDING).update(
            next_attempt_at=timezone.now()
        ),
        advance=advance_upgrades,
        worker=worker,
        storage=storage,
        user=user,
        tally=hostile_tally,
    )
    if outage_persists:
        storage.down = True
    drain_upgrades(worker, upgrade_ids)
    assert_upgrades_settled(user, upgrade_ids, hostile_tally)


# --- the other states and faults ---------------------------------------------


def queued_job(user) -> Job:
    return services.job_create(user=user, request=VideoRequest(prompt="waiting for a slot"))


def test_a_queued_job_that_never_gets_a_slot_ends_at_its_deadline(alice, worker, hostile_tally):
    """The breaker is open (no job is dispatched): the job still ends, refunded."""
    job = queued_job(alice)
    breaker_trip(reason="test")
    worker.run_all()
    assert Job.objects.get(pk=job.pk).status == S.QUEUED and job.deadline_at is not None
    advance([job.pk], django_settings.JOB_DEADLINE_SECONDS + 1)
    tick(worker)
    hostile_tally.inputs += 1
    job.refresh_from_db()
    hostile_tally.jobs_left_non_final += job.status not in Job.FINAL
    assert job.status == S.FAILED
    assert LedgerEntry.objects.filter(kind="refund", reference=job.charge_reference).count() == 1


def test_a_submit_that_crashes_waits_for_its_callback_then_ends(alice, worker, monkeypatch, hostile_tally):
    """A fault of ours with the job claimed: it is never left in `submitting`
    and never resent; by its deadline it is failed, refunded, its slot free."""
    job = queued_job(alice)
    Job.objects.filter(pk=job.pk).update(dispatched_at=timezone.now())

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in building the request")

    monkeypatch.setattr("videos.services.submit.request_of", broken)
    worker.run("videos.tasks.submit_job", job.pk)
    job.refresh_from_db()
    assert job.status == S.SUBMITTED and job.deadline_at and worker.failures == []
    advance([job.pk], django_settings.JOB_DEADLINE_SECONDS + 1)
    tick(worker)
    hostile_tally.inputs += 1
    job.refresh_from_db()
    assert job.status == S.FAILED
    assert not Job.objects.filter(dispatch.RUNNING, pk=job.pk).exists()
    assert LedgerEntry.objects.filter(kind="refund", reference=job.charge_reference).count() == 1


def test_one_jobs_fault_does_not_stop_the_sweep(alice, worker, monkeypatch, hostile_tally):
    first, second = queued_job(alice), queued_job(alice)
    advance([first.pk, second.pk], django_settings.JOB_DEADLINE_SECONDS + 1)
    real_fail = services.job_fail

    def fail_once(job_id, **kwargs):
        if job_id == first.pk:
            raise RuntimeError("database hiccup")
        return real_fail(job_id, **kwargs)

    monkeypatch.setattr("videos.services.sweep.job_fail", fail_once)
    tick(worker)
    hostile_tally.inputs += 1
    assert Job.objects.get(pk=second.pk).status == S.FAILED
    monkeypatch.setattr("videos.services.sweep.job_fail", real_fail)
    tick(worker)  # the next sweep ends the first one too
    assert Job.objects.get(pk=first.pk).status == S.FAILED
