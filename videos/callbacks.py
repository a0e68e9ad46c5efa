"""The provider's webhook: bound, verify, settle, answer fast.

Each job has its own unguessable URL. Nothing in the body is trusted until
it has been checked, in this order: the size (from Content-Length, before a
byte is read), the nesting depth (counted on the raw bytes, before parsing),
a strict parse (no NaN or Infinity, no numbers too long to be an id, a code
or a timestamp), then, when an HMAC key is configured, the signature over
taskId + "." + timestamp (the timestamp a bounded decimal, fresh), and only
then the body's meaning. Every refusal is a 4xx with a short JSON error.

Settling is the same idempotent path as polling, so duplicates, replays and
late callbacks are harmless and still answer 200 (the sender should stop).
The download happens in the worker.

The URL's token is a secret: log lines name the job, never the token
(`videos.logfilters` also redacts it from Django's request logs).
"""

import base64
import hashlib
import hmac
import json
import logging
import math
import re
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from . import kie, services
from .models import Job, Upgrade

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 64  # Job.callback_token
MAX_NUMBER_DIGITS = 15  # epoch milliseconds have 13; codes fewer
_TIMESTAMP = re.compile(r"\d{1,12}")  # epoch seconds, well past the year 30000
_SIGNATURE = re.compile(r"[A-Za-z0-9+/=]{1,128}")  # base64 of a SHA-256 digest is 44
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


class Refused(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def signature_ok(
    *, task_id: str, timestamp: str, signature: str, key: str, max_age: int, now: float | None = None
) -> bool:
    """Whether `signature` is the base64 HMAC-SHA256 of "taskId.timestamp"
    and the timestamp is within `max_age` seconds. Malformed headers are
    simply not ok (never an exception, whatever their length)."""
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature.strip()):
        return False
    if abs((now or time.time()) - int(timestamp)) > max_age:
        return False
    expected = base64.b64encode(hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.strip().encode("ascii"))


def read_body(request: HttpRequest) -> Any:
    """The callback body as JSON, after bounding its size and depth. Raises
    Refused (413 too large, 400 otherwise)."""
    limit = settings.KIE_CALLBACK_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or len(declared) > 12 or int(declared) > limit:
        raise Refused(f"The body must be at most {limit} bytes.", 413)
    raw = request.body  # at most `limit` bytes: the WSGI stream stops at Content-Length
    if len(raw) > limit:
        raise Refused(f"The body must be at most {limit} bytes.", 413)
    if json_depth(raw) > settings.KIE_CALLBACK_MAX_DEPTH:
        raise Refused("The body is nested too deeply.")
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_bounded_float)
    except (ValueError, RecursionError) as exc:
        raise Refused(str(exc) if isinstance(exc, OutOfRange) else "The body must be JSON.") from None


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in `raw`, counted without
    parsing (brackets inside strings do not count). Linear in the length."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class OutOfRange(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise OutOfRange(f"{name} is not a number this callback may carry.")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise OutOfRange("A number in the body is out of range.")
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) >= 10**MAX_NUMBER_DIGITS:
        raise OutOfRange("A number in the body is out of range.")
    return value


def claimed_task_id(body: Any) -> str:
    """The taskId the body claims (top level or under data), which the
    signature covers. Raises Refused when there is none that could be one."""
    data = body.get("data") if isinstance(body, dict) else None
    for source in (body, data):
        if isinstance(source, dict) and "taskId" in source:
            task_id = source["taskId"]
            if isinstance(task_id, str) and kie.TASK_ID_RE.match(task_id):
                return task_id
            break
    raise Refused("Missing or malformed taskId.")


def verified_callback(request) -> tuple[dict, kie.TaskResult]:
    """Read, bound, verify and parse one callback, in that order: the body's
    size and depth before parsing, the signature (when configured) before the
    body is trusted, and the task id the signature covered against the one
    the result names. Raises Refused with the answer's status."""
    body = read_body(request)
    task_id = claimed_task_id(body)
    if settings.KIE_WEBHOOK_HMAC_KEY and not signature_ok(
        task_id=task_id,
        timestamp=request.headers.get("X-Webhook-Timestamp", ""),
        signature=request.headers.get("X-Webhook-Signature", ""),
        key=settings.KIE_WEBHOOK_HMAC_KEY,
        max_age=settings.KIE_WEBHOOK_MAX_AGE,
    ):
        raise Refused("Missing, stale or invalid signature.", 401)
    try:
        result = kie.parse_callback(body)
    except kie.BadPayload as exc:
        raise Refused(f"Bad callback body: {exc}") from None
    if result.task_id != task_id:  # the signature covered another taskId than the one read
        raise Refused("Bad callback body: it names two task ids.")
    return body, result


@csrf_exempt
@require_POST
@sensitive_variables("token")
def kie_callback(request, token: str):
    job = None
    if len(token) <= MAX_TOKEN_LENGTH:
        job = Job.objects.filter(callback_token=token).order_by().first()  # by the unique index, unsorted
    if job is None:
        return _error("Unknown callback URL.", 404)
    try:
        body, result = verified_callback(request)
    except Refused as exc:
        log.warning("job %s: callback refused: %s", job.pk, exc)
        return _error(str(exc), exc.status)
    if job.task_id and result.task_id != job.task_id:
        log.warning("job %s: callback for task %s, expected %s", job.pk, result.task_id, job.task_id)
        return _error("This callback is for another task.", 409)
    if job.status not in (Job.Status.SUBMITTING, Job.Status.SUBMITTED):
        # Settled already (a duplicate, a retry, or a late callback): the
        # answer must still be 200 so the sender stops; nothing is written.
        log.info("job %s: callback for a settled job (%s) ignored", job.pk, job.status)
        return JsonResponse({"ok": True, "changed": False})
    if not job.task_id and Job.objects.filter(task_id=result.task_id).exclude(pk=job.pk).exists():
        log.warning("job %s: callback names task %s of another job", job.pk, result.task_id)
        return _error("This callback is for another task.", 409)
    shape = "flat" if "successFlag" in body else "nested"
    try:
        changed = services.job_callback(job=job, result=result, endpoint=f"callback ({shape})")
    except IntegrityError:  # the same, lost to a concurrent callback: nothing was written
        log.warning("job %s: callback names a task id another job took meanwhile", job.pk)
        return _error("This callback is for another task.", 409)
    return JsonResponse({"ok": True, "changed": changed})


@csrf_exempt
@require_POST
@sensitive_variables("token")
def kie_upgrade_callback(request, token: str):
    """A 4K upgrade's own callback URL (one secret per upgrade). The body is
    read and verified exactly as a job's; a made version is stored by the
    worker, anything else is checked with the provider before a refund;
    duplicates and late arrivals answer 200 and change nothing."""
    upgrade = None
    if len(token) <= MAX_TOKEN_LENGTH:
        upgrade = Upgrade.objects.filter(callback_token=token).select_related("job").order_by().first()
    if upgrade is None:
        return _error("Unknown callback URL.", 404)
    try:
        body, result = verified_callback(request)
    except Refused as exc:
        log.warning("upgrade %s: callback refused: %s", upgrade.pk, exc)
        return _error(str(exc), exc.status)
    # The provider names the 4K task or the video it is made from. Until the
    # 4K task's id is known (the request's answer may still be on its way),
    # the unguessable URL alone says which upgrade this is.
    known = upgrade.task_id and upgrade.task_id != upgrade.job.task_id
    if known and result.task_id not in {upgrade.task_id, upgrade.job.task_id}:
        log.warning("upgrade %s: callback for task %s", upgrade.pk, result.task_id)
        return _error("This callback is for another task.", 409)
    if upgrade.status != Upgrade.Status.PENDING:
        log.info("upgrade %s: callback for a settled upgrade (%s) ignored", upgrade.pk, upgrade.status)
        return JsonResponse({"ok": True, "changed": False})
    shape = "flat" if "successFlag" in body else "nested"
    changed = services.upgrade_callback(upgrade=upgrade, result=result, endpoint=f"callback {upgrade.kind} ({shape})")
    return JsonResponse({"ok": True, "changed": changed})
