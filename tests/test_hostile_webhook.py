"""The provider's webhook against hostile callbacks.

Generated bodies (deep nesting, oversize, NaN and Infinity, numbers of
hundreds or thousands of digits, wrong types in every field, random JSON,
bytes that are not JSON), hostile signature headers and hostile tokens.
Every answer is below 500; every refused callback leaves the job, its
history and the ledger exactly as they were; the secret token appears in no
log line and no admin page.
"""

import base64
import hashlib
import hmac
import io
import json
import logging
import time
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing.models import LedgerEntry
from billing.services import credits_charge
from videos import services
from videos.logfilters import RedactSecrets
from videos.models import Job, ProviderCall

from .conftest import make_user

TASK = "task_hostile_0001"
OK_URL = "http://127.0.0.1:9/files/v.mp4"


def new_job(user, task_id: str | None = TASK) -> Job:
    """A charged, submitted job that owns `task_id` (taken from any job
    that had it), so that each hostile input meets a job it could settle."""
    if task_id:
        Job.objects.filter(task_id=task_id).update(task_id=None)
    job = Job.objects.create(user=user, prompt="p", price_credits=5, status=Job.Status.SUBMITTED, task_id=task_id)
    credits_charge(user_id=user.pk, amount=5, reference=job.charge_reference, reason="test")
    return job


def snapshot(job: Job) -> tuple:
    row = Job.objects.filter(pk=job.pk).values().get()
    return row, ProviderCall.objects.filter(job=job).count(), LedgerEntry.objects.count()


class Poster:
    """Posts one hostile input at a fresh job and keeps the figures."""

    def __init__(self, client, user, tally):
        self.client, self.user, self.tally = client, user, tally
        self.answers: list[int] = []

    def post(self, body, *, token: str | None = None, headers: dict | None = None, **meta) -> int:
        job = new_job(self.user)
        raw = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
        before = snapshot(job)
        response = self.client.post(
            f"/hooks/kie/{token if token is not None else job.callback_token}/",
            raw,
            content_type="application/json",
            headers=headers or {},
            **meta,
        )
        self.tally.inputs += 1
        self.answers.append(response.status_code)
        if response.status_code >= 500:
            self.tally.server_errors += 1
        elif response.status_code >= 400 and snapshot(job) != before:
            self.tally.partial_writes += 1
        return response.status_code


@pytest.fixture
def rich(db, django_user_model):
    return make_user(django_user_model, "rich", credits=10**7)


@pytest.fixture
def poster(client, rich, hostile_tally):
    return Poster(client, rich, hostile_tally)


def flagged(**fields) -> dict:
    body = {"taskId": TASK, "successFlag": 1, "resultUrls": [OK_URL]}
    body.update(fields)
    return body


def nested(code=200, **data) -> dict:
    inner = {"taskId": TASK, "info": {"resultUrls": [OK_URL]}}
    inner.update(data)
    return {"code": code, "msg": "ok", "data": inner}


def deep(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if kind == "unbalanced":
        return b"[" * depth
    if kind == "in data":
        return b'{"code":200,"data":{"taskId":"' + TASK.encode() + b'","info":' + b"[" * depth + b"]" * depth + b"}}"
    return b'{"taskId":"' + TASK.encode() + b'","successFlag":1,"x":' + b'{"a":[' * depth + b"]}" * depth + b"}"


HUGE_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e308", "9" * 16, "9" * 400, "9" * 5000]
HUGE_NUMBERS += ["-" + "9" * 400, "0." + "0" * 400 + "1", "1" * 15 + ".5e300"]
NUMBER_FIELDS = ["successFlag", "createTime", "completeTime", "errorCode", "code"]


def test_deep_and_oversize_bodies_answer_4xx(poster, settings):
    for depth in (17, 18, 64, 1000, 50_000):
        for kind in ("array", "object", "unbalanced", "in data", "in body"):
            assert poster.post(deep(depth, kind)) in (400, 413)  # too deep, or (50,000 deep) too big too
    limit = settings.KIE_CALLBACK_MAX_BYTES
    padding = "x" * limit
    assert poster.post(flagged(pad=padding)) == 413
    assert poster.post(b" " * (limit + 1)) == 413
    for declared in ("99999999999", "9" * 5000, "-1", "abc", str(limit + 1)):
        assert poster.post(flagged(), CONTENT_LENGTH=declared) in (400, 413)
    # Within the bounds, the same shapes are read.
    assert poster.post(deep((settings.KIE_CALLBACK_MAX_DEPTH - 2) // 2, "in body")) == 200


def test_out_of_range_numbers_answer_400(poster):
    for field in NUMBER_FIELDS:
        for number in HUGE_NUMBERS:
            for shape in ("flagged", "nested"):
                template = flagged(**{field: 0}) if shape == "flagged" else nested(**{field: 0})
                raw = json.dumps(template).replace(f'"{field}": 0', f'"{field}": {number}').encode()
                assert poster.post(raw) < 500
                if len(number.lstrip("-")) > 15 and "." not in number or number in ("NaN", "Infinity", "-Infinity"):
                    assert poster.answers[-1] == 400, (field, number)


def test_huge_timestamps_as_text_are_harmless(poster):
    for value in ("9" * 400, "-" + "9" * 20, "99999-12-31T00:00:00", "2024-13-45 99:99:99", "0" * 1000, "\u0661" * 20):
        for field in ("createTime", "completeTime", "createdAt", "completedAt"):
            assert poster.post(flagged(**{field: value})) < 500


def test_wrong_types_in_every_field_answer_below_500(poster):
    odd = [None, True, False, 0, -1, 2**31, 3.5, "", "x" * 3000, [], [1, [2]], {}, {"a": {"b": None}}, "1", "\x00"]
    for value in odd:
        for field in ("taskId", "successFlag", "resultUrls", "response", "errorMessage", "msg", "videoUrl"):
            assert poster.post(flagged(**{field: value})) < 500
        for field in ("taskId", "info", "resultUrls"):
            assert poster.post(nested(**{field: value})) < 500
        assert poster.post({"code": value, "data": {"taskId": TASK}}) < 500
        assert poster.post({"code": 200, "data": value}) < 500
        assert poster.post(value) < 500


def test_bytes_that_are_not_json_answer_400(poster):
    for raw in (b"", b" ", b"\xff\xfe\x00", b"\xc3\x28", b"nul", b"{", b'{"a":1}garbage', b"[1,]", b"\x00" * 100):
        assert poster.post(raw) == 400
    assert poster.post(json.dumps(flagged()).encode("utf-16")) < 500


def test_hostile_result_urls_never_reach_storage_and_are_refunded(poster, rich):
    """Accepted (the provider said success) but the download refuses them
    for good: the job fails and is refunded, never an exception."""
    urls = ["http://[::1/v.mp4", "http://127.0.0.1\\@evil.example.com/v.mp4", "http://x/" + "a" * 3000]
    urls += ["https://169.254.169.254/latest/meta-data", "http://2130706433/v.mp4", "javascript:alert(1)"]
    for url in urls:
        job = new_job(rich)
        answer = poster.client.post(
            f"/hooks/kie/{job.callback_token}/", flagged(resultUrls=[url]), content_type="application/json"
        )
        poster.tally.inputs += 1
        assert answer.status_code < 500
        services.job_download(job.pk)  # the worker's next step (on_commit does not run in a test transaction)
        job.refresh_from_db()
        if job.status != Job.Status.SUBMITTED:  # a URL that was dropped leaves the job waiting for the deadline
            assert job.status == Job.Status.FAILED, url
            assert LedgerEntry.objects.filter(kind="refund", reference=job.charge_reference).count() == 1


def sign(key: str, task_id: str, ts: str) -> dict:
    digest = hmac.new(key.encode(), f"{task_id}.{ts}".encode(), hashlib.sha256).digest()
    return {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": base64.b64encode(digest).decode()}


def test_signature_is_checked_before_the_body_is_trusted(poster, settings):
    settings.KIE_WEBHOOK_HMAC_KEY = "hook-secret"
    now = int(time.time())
    bad_timestamps = ["9" * 5000, "9" * 400, "-1", "\u0661\u0662\u0663", "1e9", f" {now}", f"{now}.0", "", "0x10"]
    for ts in bad_timestamps:
        headers = {
            "X-Webhook-Timestamp": ts,
            "X-Webhook-Signature": sign("hook-secret", TASK, str(now))["X-Webhook-Signature"],
        }
        assert poster.post(flagged(), headers=headers) == 401
    for signature in ("", "x" * 5000, "é" * 50, "====", sign("other", TASK, str(now))["X-Webhook-Signature"]):
        assert (
            poster.post(flagged(), headers={"X-Webhook-Timestamp": str(now), "X-Webhook-Signature": signature}) == 401
        )
    assert poster.post(flagged(), headers=sign("hook-secret", TASK, str(now - 3600))) == 401  # stale
    assert poster.post(flagged(), headers=sign("hook-secret", "another_task", str(now))) == 401
    # Signed for one taskId at the top, another one inside: refused, unsettled.
    two = {"taskId": TASK, "data": {"taskId": "other_task", "successFlag": 3}, "code": 200}
    assert poster.post(two, headers=sign("hook-secret", TASK, str(now))) in (400, 401)
    # Out-of-range numbers are refused before the signature is even looked at.
    assert poster.post(flagged(createTime=10**400), headers=sign("hook-secret", TASK, str(now))) == 400
    assert poster.post(flagged(), headers=sign("hook-secret", TASK, str(now))) == 200


def test_a_callback_naming_another_jobs_task_answers_409(poster, rich):
    new_job(rich, task_id="taken_task")
    assert poster.post(flagged(taskId="taken_task")) == 409  # at a job that owns TASK
    unsubmitted = new_job(rich, task_id=None)
    assert poster.post(flagged(taskId="taken_task"), token=unsubmitted.callback_token) == 409


def test_hostile_tokens_answer_404(poster):
    for token in ("x", "a" * 65, "a" * 10_000, "0" * 64, "../admin", "%00", "tok%2Fen"):
        assert poster.post(flagged(), token=token) == 404


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
callback_fields = st.fixed_dictionaries(
    {},
    optional={
        "taskId": st.one_of(st.just(TASK), json_values),
        "successFlag": st.one_of(st.sampled_from([0, 1, 2, 3, "1"]), json_values),
        "resultUrls": st.one_of(st.just([OK_URL]), json_values),
        "response": json_values,
        "createTime": st.one_of(st.integers(), st.floats(), st.text()),
        "completeTime": st.one_of(st.integers(), st.floats(), st.text()),
        "errorCode": st.one_of(st.integers(), json_values),
        "errorMessage": json_values,
        "code": st.one_of(st.sampled_from([200, 400, 501]), st.integers()),
        "data": json_values,
    },
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, callback_fields, callback_fields.map(lambda d: {"code": 200, "data": d})))
def test_generated_bodies_never_answer_5xx_nor_half_write(poster, body):
    poster.post(body)
    assert poster.tally.server_errors == 0 and poster.tally.partial_writes == 0


def test_figures_for_this_module(hostile_tally):
    assert hostile_tally.server_errors == 0
    assert hostile_tally.partial_writes == 0


# --- secrets ---------------------------------------------------------------------


@pytest.fixture
def log_output():
    """What the configured log handlers write (the handlers that carry the
    redaction filter), captured for the test."""
    buffer = io.StringIO()
    handlers = {
        h
        for logger in (logging.getLogger(), logging.getLogger("django"), logging.getLogger("django.server"))
        for h in logger.handlers
        if any(isinstance(f, RedactSecrets) for f in h.filters)
    }
    assert handlers, "the LOGGING setting should give its handlers the redaction filter"
    old = {h: h.setStream(buffer) for h in handlers}
    yield buffer
    for h, stream in old.items():
        h.setStream(stream)


def test_tokens_appear_in_no_log_line(poster, log_output, settings, rich):
    settings.KIE_WEBHOOK_HMAC_KEY = "hook-secret"
    job = new_job(rich)
    token = job.callback_token
    for body in (b"{", deep(100, "array"), json.dumps(flagged()).encode(), b" " * 70_000):
        poster.client.post(f"/hooks/kie/{token}/", body, content_type="application/json")
    poster.client.get(f"/hooks/kie/{token}/")  # 405, logged by Django with the path
    poster.client.post(f"/hooks/kie/{token}x/", b"{}", content_type="application/json")  # 404
    written = log_output.getvalue()
    assert f"job {job.pk}" in written  # the job is named ...
    assert "/hooks/kie/<redacted>" in written  # ... and Django's request lines are kept, redacted
    assert token not in written


def test_tokens_appear_in_no_admin_page(admin_client, rich):
    job = new_job(rich)
    for url in ("/admin/videos/job/", f"/admin/videos/job/{job.pk}/change/", f"/admin/videos/job/?q={job.pk}"):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert job.callback_token not in response.content.decode()


def test_gunicorn_access_log_redacts_tokens():
    from gunicorn.config import Config

    from veoproject.gunicorn_logging import RedactingLogger

    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/hooks/kie/s3cr3t-token/",
        "PATH_INFO": "/hooks/kie/s3cr3t-token/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "",
    }
    resp = SimpleNamespace(status="200 OK", headers=[], sent=10)
    req = SimpleNamespace(headers=[])
    atoms = RedactingLogger(Config()).atoms(resp, req, environ, SimpleNamespace(seconds=0, microseconds=5))
    assert "s3cr3t-token" not in json.dumps(atoms, default=str)
    assert atoms["r"] == "POST /hooks/kie/<redacted>/ HTTP/1.1"
