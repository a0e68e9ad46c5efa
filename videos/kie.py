"""The kie.ai Veo 3 client: the only module that speaks HTTP to the provider.

Every answer (HTTP status and the body's `code`, which can carry an error
inside an HTTP 200) becomes a typed result or a `KieError` that says whether
retrying can help. Every documented response shape (reference sheet and
published docs, see shared/kie-api.md) is parsed here and nowhere else.
Generate is never retried automatically: a lost answer could mean a second,
paid generation.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.utils.dateparse import parse_datetime

from .vocabulary import EXTEND_MODEL_NAMES, VideoRequest

log = logging.getLogger(__name__)

TASK_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
MAX_URL_LENGTH = 2000  # Job.provider_video_url


@dataclass(frozen=True)
class Handling:
    """What the app does with one provider code."""

    meaning: str
    retry: str  # "backoff" (429), "later" (fixed delay), "no"
    alert: bool = False  # operators must act (key, account, feature)
    breaker: bool = False  # stop new submissions until an operator resets

    @property
    def refund(self) -> bool:
        """A code that is not retried fails the job: the user is refunded."""
        return self.retry == "no"


# One table for every code in the provider's docs (shared/kie-api.md).
HANDLING: dict[int, Handling] = {
    400: Handling("Refused, or (1080p) still processing", retry="no"),
    401: Handling("The API key was refused", retry="no", alert=True, breaker=True),
    402: Handling("The provider account is out of credits", retry="no", alert=True, breaker=True),
    404: Handling("Not found", retry="no"),
    408: Handling("The provider had no result for over 10 minutes", retry="no"),
    422: Handling("The provider rejected the parameters", retry="no"),
    429: Handling("Rate limited by the provider", retry="backoff"),
    451: Handling("The provider cannot fetch an input image", retry="no"),
    455: Handling("Provider maintenance", retry="later"),
    500: Handling("Provider server error", retry="later"),
    501: Handling("Generation failed", retry="no"),
    505: Handling("The feature is disabled at the provider", retry="no", alert=True, breaker=True),
}
NETWORK = Handling("The provider could not be reached", retry="later")
BAD_ANSWER = Handling("The provider's answer made no sense", retry="later")
# get-4k-video's code 422 "4k is processing": ask again, no sooner than every 30 s.
PROCESSING_4K = Handling("4K still processing", retry="later")
UNAVAILABLE_4K = Handling("The 4K version is unavailable", retry="no")


class KieError(Exception):
    """A provider call that did not give what was asked.

    `code` is the body's code or else the HTTP status (None for network
    errors). `retryable` says whether the same call may succeed later.
    `maybe_delivered` is set when a request may have reached the provider
    although no answer came back (a read timeout): a generate in that state
    must not be blindly resent.
    """

    def __init__(
        self, message: str, *, code: int | None, handling: Handling, maybe_delivered: bool = False, data: Any = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.handling = handling
        self.maybe_delivered = maybe_delivered
        self.data = data  # the answer's data, for calls whose error codes carry results (4K)

    @property
    def retryable(self) -> bool:
        return self.handling.retry != "no"


@dataclass(frozen=True)
class CallRecord:
    endpoint: str
    http_status: int | None
    code: int | None
    duration_ms: int
    error: str = ""


@dataclass(frozen=True)
class TaskResult:
    """The state of one provider task, from a status call or a callback."""

    task_id: str
    state: str  # "pending", "succeeded", "failed"
    video_urls: tuple[str, ...] = ()
    error_code: int | None = None
    error_message: str = ""
    resolution: str = ""
    created_at: datetime | None = None
    completed_at: datetime | None = None
    # The provider said it succeeded but gave no video: a result still being
    # filled, or (if it stays so) the safety filter's empty success.
    empty_success: bool = False
    # What the provider says the task cost (creditsConsumed), when it says so.
    credits_consumed: Decimal | None = None

    def __post_init__(self) -> None:
        # Values from a callback body or a status answer end up in database
        # columns: out-of-range ones are dropped here, not at the write.
        if self.error_code is not None and not _fits_int32(self.error_code):
            object.__setattr__(self, "error_code", None)
        if len(self.resolution) > 16:
            object.__setattr__(self, "resolution", "")

    @property
    def video_url(self) -> str:
        return self.video_urls[0] if self.video_urls else ""


def _fits_int32(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31


def generate_body(request: VideoRequest, *, callback_url: str = "") -> dict[str, Any]:
    """The generate call's JSON body for one request, in the provider's spelling."""
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "model": request.model,
        "generationType": request.generation_type,
        # The sheet spells it aspectRatio, the docs aspect_ratio: send both.
        "aspectRatio": request.aspect_ratio,
        "aspect_ratio": request.aspect_ratio,
        "enableTranslation": request.enable_translation,
    }
    if request.image_urls:
        body["imageUrls"] = list(request.image_urls)
    if request.seed is not None:
        body["seeds"] = request.seed
    if callback_url:
        body["callBackUrl"] = callback_url
    if request.watermark:
        body["watermark"] = request.watermark
    if request.resolution:
        body["resolution"] = request.resolution
    return body


class BadPayload(ValueError):
    """A callback or status body that does not match any documented shape."""


Recorder = Callable[[CallRecord], None]


@dataclass
class KieClient:
    base_url: str
    api_key: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session.headers.update({"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"})
        # No automatic adapter retries: each retry is a decision of the caller.
        self.session.mount("https://", requests.adapters.HTTPAdapter(max_retries=0))
        self.session.mount("http://", requests.adapters.HTTPAdapter(max_retries=0))

    def __repr__(self) -> str:  # never show the key
        return f"KieClient({self.base_url!r})"

    # --- calls -----------------------------------------------------------
    def generate(self, request: VideoRequest, *, callback_url: str = "", record: Recorder | None = None) -> str:
        """Start a generation; returns the provider's task id. Every image
        of `request` must be a link the provider can fetch."""
        body = generate_body(request, callback_url=callback_url)
        data = self._call("POST", "/api/v1/veo/generate", json_body=body, record=record)
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not TASK_ID_RE.match(task_id):
            # The provider accepted the request (code 200) but gave no usable id:
            # the task may exist, so this is not safe to resend.
            raise KieError("The provider's answer had no task id", code=None, handling=BAD_ANSWER, maybe_delivered=True)
        return task_id

    def record_info(self, task_id: str, *, record: Recorder | None = None) -> TaskResult:
        """The docs' status endpoint, which the docs call the final authority."""
        data = self._call("GET", "/api/v1/veo/record-info", params={"taskId": task_id}, record=record)
        return parse_status(data, task_id=task_id)

    def query(self, task_id: str, *, record: Recorder | None = None) -> TaskResult:
        """The reference sheet's status endpoint."""
        data = self._call("GET", f"/api/v1/veo/query/{task_id}", record=record)
        return parse_status(data, task_id=task_id)

    def credits(self, *, record: Recorder | None = None) -> int:
        """The account's balance in whole provider credits. It has been seen
        fractional (5916.25) and may come as a numeric string: the fraction is
        dropped (the alert threshold and reconciliation count whole credits)."""
        data = self._call("GET", "/api/v1/chat/credit", record=record)
        amount = _decimal(data)
        if amount is None:
            raise KieError("The credit balance was not a number", code=None, handling=BAD_ANSWER)
        return int(amount)

    def extend(
        self,
        *,
        task_id: str,
        prompt: str,
        model: str,
        seed: int | None = None,
        watermark: str = "",
        callback_url: str = "",
        record: Recorder | None = None,
    ) -> str:
        """Continue a finished video as a new task; returns the new task id.
        Like generate, never resent automatically (it is billed)."""
        body: dict[str, Any] = {"taskId": task_id, "prompt": prompt, "model": EXTEND_MODEL_NAMES.get(model, model)}
        if seed is not None:
            body["seeds"] = seed
        if watermark:
            body["watermark"] = watermark
        if callback_url:
            body["callBackUrl"] = callback_url
        data = self._call("POST", "/api/v1/veo/extend", json_body=body, record=record)
        new_id = data.get("taskId") if isinstance(data, dict) else None
        if not isinstance(new_id, str) or not TASK_ID_RE.match(new_id):
            raise KieError("The provider's answer had no task id", code=None, handling=BAD_ANSWER, maybe_delivered=True)
        return new_id

    def get_4k(
        self, task_id: str, *, index: int = 0, callback_url: str = "", record: Recorder | None = None
    ) -> TaskResult:
        """Ask for (or after) the 4K version of a finished task.

        Returns a succeeded result with its URLs when ready, a pending one
        (naming the 4K task, when the answer does) when the provider accepted
        the request and is working on it. The provider answers code 422 both
        for "4k is processing" (retryable: ask again no sooner than 30 s)
        and for "The video has been generated successfully" (with the URLs
        in data); both are read here, not treated as refusals.
        """
        body: dict[str, Any] = {"taskId": task_id, "index": index}
        if callback_url:
            body["callBackUrl"] = callback_url
        try:
            data = self._call("POST", "/api/v1/veo/get-4k-video", json_body=body, record=record, keep_data=True)
        except KieError as exc:
            text = exc.message.lower()
            if exc.code == 422 and "processing" in text:
                raise KieError(exc.message, code=exc.code, handling=PROCESSING_4K) from None
            if exc.code == 500 and "unavailable" in text:  # the provider's word that no 4K can be made
                raise KieError(exc.message, code=exc.code, handling=UNAVAILABLE_4K) from None
            if exc.code == 422 and "success" in text:
                urls = _urls_in(exc.data)
                if urls:
                    return TaskResult(_uhd_task_id(exc.data, task_id), "succeeded", urls, resolution="4k")
                raise KieError(exc.message, code=exc.code, handling=PROCESSING_4K) from None
            raise
        urls = _urls_in(data)
        return TaskResult(_uhd_task_id(data, task_id), "succeeded" if urls else "pending", urls, resolution="4k")

    def get_1080p(self, task_id: str, *, index: int = 0, record: Recorder | None = None) -> str:
        """The 1080p URL; raises a retryable KieError while it is processing."""
        try:
            data = self._call(
                "GET", "/api/v1/veo/get-1080p-video", params={"taskId": task_id, "index": index}, record=record
            )
        except KieError as exc:
            if exc.code in (400, 404):  # "still processing": the docs say wait and ask again
                raise KieError(
                    exc.message, code=exc.code, handling=Handling("1080p still processing", "later")
                ) from None
            raise
        url = data.get("resultUrl") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url:
            raise KieError("1080p video not ready yet", code=None, handling=Handling("1080p still processing", "later"))
        return url

    # --- transport -------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: dict | None = None,
        record: Recorder | None = None,
        keep_data: bool = False,
    ) -> Any:
        started = time.monotonic()
        http_status: int | None = None
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
            )
            http_status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            code, msg, data = _unwrap(http_status, body)
            if code != 200:
                handling = HANDLING.get(code) or (BAD_ANSWER if code >= 500 else Handling("Unexpected code", "no"))
                raise KieError(msg or handling.meaning, code=code, handling=handling, data=data if keep_data else None)
        except requests.RequestException as exc:
            error = KieError(
                f"The provider could not be reached or did not answer ({type(exc).__name__})",
                code=None,
                handling=NETWORK,
                maybe_delivered=_maybe_delivered(exc),
            )
        except KieError as exc:
            error = exc
        else:
            _emit(record, method, path, http_status, 200, started, "")
            return data
        _emit(record, method, path, http_status, error.code, started, error.message)
        log.warning("kie %s %s failed: code=%s %s", method, path, error.code, error.message)
        raise error


def _maybe_delivered(exc: requests.RequestException) -> bool:
    """Could the request have reached the provider although no answer came?

    Only a connection that was never made (refused, unresolvable, connect
    timeout) is certainly not delivered; a read timeout or a reset after
    sending may have started a paid generation.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return not isinstance(reason, urllib3.exceptions.NewConnectionError)


def _emit(
    record: Recorder | None, method: str, path: str, status: int | None, code: int | None, started: float, error: str
) -> None:
    if record is not None:
        record(
            CallRecord(
                endpoint=f"{method} {path}",
                http_status=status,
                code=code,
                duration_ms=int((time.monotonic() - started) * 1000),
                error=error[:500],
            )
        )


def _unwrap(http_status: int, body: Any) -> tuple[int, str, Any]:
    """(effective code, message, data) of one answer.

    An error code in the body wins over HTTP 200; a body without a code
    takes the HTTP status.
    """
    if not isinstance(body, dict):
        if http_status == 200:
            return 599, "The provider's answer was not JSON", None
        return http_status, "", None
    raw_code = body.get("code", http_status)
    code = raw_code if _fits_int32(raw_code) else http_status
    if http_status != 200 and code == 200:
        code = http_status
    msg = body.get("msg") if isinstance(body.get("msg"), str) else ""
    return code, msg[:500], body.get("data")


def default_client() -> KieClient:
    return KieClient(
        base_url=settings.KIE_API_BASE_URL,
        api_key=settings.KIE_API_KEY,
        connect_timeout=settings.KIE_CONNECT_TIMEOUT,
        read_timeout=settings.KIE_READ_TIMEOUT,
    )


# --- parsing of status and callback bodies ---------------------------------


def parse_status(data: Any, *, task_id: str) -> TaskResult:
    """A status call's `data` (record-info or query shape)."""
    if not isinstance(data, dict):
        raise KieError("The status answer had no data", code=None, handling=BAD_ANSWER)
    try:
        return _from_flagged(data, fallback_task_id=task_id)
    except BadPayload as exc:
        raise KieError(str(exc), code=None, handling=BAD_ANSWER) from None


def parse_callback(body: Any) -> TaskResult:
    """A callback body, flat (sheet) or nested (docs). Raises BadPayload."""
    if not isinstance(body, dict):
        raise BadPayload("The body must be a JSON object.")
    data = body.get("data")
    if "successFlag" in body:
        return _from_flagged(body, fallback_task_id="")
    if isinstance(data, dict) and "successFlag" in data:
        return _from_flagged(data, fallback_task_id="")
    if "code" in body and isinstance(data, dict):
        return _from_nested(body, data)
    raise BadPayload("Unknown callback shape: expected successFlag, or code with data.")


def _task_id(value: Any, fallback: str) -> str:
    task_id = value if value is not None else fallback
    if not isinstance(task_id, str) or not TASK_ID_RE.match(task_id):
        raise BadPayload("Missing or malformed taskId.")
    return task_id


def _from_flagged(data: dict, *, fallback_task_id: str) -> TaskResult:
    task_id = _task_id(data.get("taskId"), fallback_task_id)
    flag = data.get("successFlag")
    if isinstance(flag, str) and flag.strip().isdigit():
        flag = int(flag)
    if flag not in (0, 1, 2, 3) or isinstance(flag, bool):
        raise BadPayload(f"Unknown successFlag {flag!r}.")
    response = data.get("response") if isinstance(data.get("response"), dict) else {}
    # An extension's fullResultUrls is the whole, extended video: it wins.
    urls = (
        _urls(response.get("fullResultUrls"))
        or _urls(response.get("resultUrls"))
        or _urls(data.get("fullResultUrls"))
        or _urls(data.get("resultUrls"))
        or _urls(data.get("videoUrl"))
    )
    consumed = _credits_consumed(data, response)
    created = _when(data.get("createTime", data.get("createdAt")))
    completed = _when(data.get("completeTime", data.get("completedAt")))
    resolution = response.get("resolution") if isinstance(response.get("resolution"), str) else ""
    if flag in (2, 3):
        code = data.get("errorCode")
        message = data.get("errorMessage") or data.get("msg") or "The provider could not generate this video."
        return TaskResult(
            task_id=task_id,
            state="failed",
            error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            error_message=str(message)[:500],
            created_at=created,
            completed_at=completed,
            credits_consumed=consumed,
        )
    # successFlag 1 has been seen before resultUrls was filled: keep waiting
    # (the settle path decides when an empty success is the safety filter).
    state = "succeeded" if flag == 1 and urls else "pending"
    return TaskResult(
        task_id,
        state,
        urls,
        resolution=resolution,
        created_at=created,
        completed_at=completed,
        empty_success=flag == 1 and not urls,
        credits_consumed=consumed,
    )


def _from_nested(body: dict, data: dict) -> TaskResult:
    task_id = _task_id(data.get("taskId"), "")
    code = body.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        raise BadPayload("The callback's code must be an integer.")
    if code != 200:
        message = body.get("msg") if isinstance(body.get("msg"), str) else ""
        return TaskResult(task_id, "failed", error_code=code, error_message=(message or "Generation failed.")[:500])
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    urls = (
        _urls(info.get("fullResultUrls"))
        or _urls(info.get("resultUrls"))
        or _urls(data.get("fullResultUrls"))
        or _urls(data.get("resultUrls"))
    )
    resolution = info.get("resolution") if isinstance(info.get("resolution"), str) else ""
    return TaskResult(
        task_id,
        "succeeded" if urls else "pending",
        urls,
        resolution=resolution,
        empty_success=not urls,
        credits_consumed=_credits_consumed(data, info),
    )


def _urls_in(data: Any) -> tuple[str, ...]:
    """resultUrls wherever a 4K answer puts them (data, or data.info)."""
    if not isinstance(data, dict):
        return ()
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return _urls(info.get("resultUrls")) or _urls(data.get("resultUrls")) or _urls(data.get("resultUrl"))


def _uhd_task_id(data: Any, fallback: str) -> str:
    task_id = data.get("taskId") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, str) and TASK_ID_RE.match(task_id) else fallback


def _decimal(value: Any) -> Decimal | None:
    """A number from JSON (int, float or numeric string), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) < 10**9 else None


def _credits_consumed(*places: dict) -> Decimal | None:
    """creditsConsumed where the provider states it (data, response or info)."""
    for place in places:
        if isinstance(place, dict) and "creditsConsumed" in place:
            amount = _decimal(place["creditsConsumed"])
            if amount is not None and amount >= 0:
                return amount.quantize(Decimal("0.01"))
    return None


def _urls(value: Any) -> tuple[str, ...]:
    """resultUrls as an array, a JSON-encoded array, the bracketed non-JSON
    form one published schema shows ('[http://example.com/video1.mp4]'), or
    a single URL."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                inner = text[1:-1] if text.endswith("]") else text[1:]
                value = [part.strip().strip("'\"") for part in inner.split(",") if part.strip()]
        else:
            value = [text] if text else []
    if not isinstance(value, list):
        return ()
    # Longer URLs than the job's URL field holds are dropped here rather
    # than failing the database write on the webhook's hot path.
    return tuple(
        u for u in value if isinstance(u, str) and u.startswith(("https://", "http://")) and len(u) <= MAX_URL_LENGTH
    )[:4]


def _when(value: Any) -> datetime | None:
    """Timestamps arrive as date strings or epoch milliseconds (or seconds)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,15}", value.strip()):
        value = int(value.strip())
    if isinstance(value, int | float):
        if not -(10**15) < value < 10**15:  # beyond any date: and too big to divide as a float
            return None
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip().replace(" ", "T", 1))
        except ValueError:
            return None
        if parsed and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    return None
