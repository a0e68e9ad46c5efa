"""A kie.ai Veo 3 simulator that speaks the provider's API on loopback.

It validates generate requests as the provider's docs do, answers both
status endpoints (record-info and query), calls back in either documented
shape, reports credits, offers 1080p upgrades, and serves real small mp4
files. Behaviour is set at start-up, changed at run time through
POST /_sim/config, or per request by directives in the prompt:

    [sim:fail]          the generation fails (successFlag 2)
    [sim:fail=CODE]     it fails with that code (e.g. 408: no result for 10 min)
    [sim:filtered]      it "succeeds" with no video at all (the safety filter)
    [sim:claim=CODE]    it succeeds, but its callback says it failed with CODE
                        (record-info, the final authority, says success)
    [sim:error=CODE]    generate (or extend) answers that code (e.g. 402, 422, 429)
    [sim:nocallback]    no callback for this task
    [sim:delay=SECONDS] this task takes that long
    [sim:uhdfail]       the 4K version of this video fails (code 500 callback)
    [sim:uhdnocallback] the 4K version's callback is never sent

Beyond generate it speaks the Veo 3.1 offer: veo3_lite, `resolution`
(720p/1080p/4k, reported back and priced), 1080p for 16:9 and 9:16,
get-4k-video (a task of its own with a callback; asking again answers 422
"4k is processing" or 422 "generated successfully" with the URLs), extend
(a new task whose fullResultUrls is a longer file), and creditsConsumed in
its answers.

Control endpoints: GET /_sim/stats, GET /_sim/tasks/<id>, POST /_sim/config,
POST /_sim/reset. It keeps its state in memory and needs no Django settings:
it is a stand-in for someone else's service, not part of the app. It shares
the app's request vocabulary (videos.vocabulary: types, aspect ratios,
resolutions), which is the provider's own; its model list is the provider's
whole catalogue, which may be larger than what the app sells.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

from videos.vocabulary import AspectRatio, GenerationType, Resolution

log = logging.getLogger("kie_simulator")

HERE = Path(__file__).resolve().parent
SAMPLES = {
    "landscape": (HERE / "sample.mp4").read_bytes(),
    "portrait": (HERE / "sample_portrait.mp4").read_bytes(),
    # Twice as long: an extension's whole video (fullResultUrls).
    "landscape-full": (HERE / "sample_extended.mp4").read_bytes(),
    "portrait-full": (HERE / "sample_portrait_extended.mp4").read_bytes(),
}
DIRECTIVE_RE = re.compile(r"\[sim:(\w+)(?:=([\w.]+))?\]")

DEFAULTS: dict[str, Any] = {
    "delay": 20.0,  # seconds from generate to result
    "delay_quality": None,  # for veo3; None: same as delay
    "outcome": "success",  # success | fail | fail3
    "callbacks": True,
    "callback_shape": "nested",  # nested (docs) | flat (sheet) | alternate
    "duplicate_callbacks": 0,  # extra copies of each callback
    "generate_error": None,  # a code generate answers with
    "generate_error_times": 0,  # 0: always while set; N: the next N generates
    "error_in_200": False,  # send errors with HTTP 200 and the code in the body
    "url_delay": 0.0,  # successFlag 1 without resultUrls for this long
    "video_bytes": 0,  # pad served videos to this size (0: the sample's size)
    "hd_delay": 10.0,  # 1080p "still processing" for this long
    "uhd_delay": 10.0,  # 4K "processing" for this long
    "hmac_key": "",  # sign callbacks (X-Webhook-Signature) when set
    "api_key": "",  # require this bearer token when set (else any)
    "credits": 100000,  # provider credits of the account
    "latency": 0.0,  # extra seconds before each API answer
    "file_rate": 0,  # serve files at most this many bytes a second (0: no limit)
}
# Provider credits by model and resolution (the provider's list), and 4K later.
COST = {
    "veo3_lite": {"720p": 30, "1080p": 35, "4k": 150},
    "veo3_fast": {"720p": 60, "1080p": 65, "4k": 180},
    "veo3": {"720p": 250, "1080p": 255, "4k": 370},
}
UHD_COST = 120
MODELS = set(COST)
EXTEND_MODELS = {"fast": "veo3_fast", "quality": "veo3", "lite": "veo3_lite"}
REFERENCE_MODELS = {"veo3_fast", "veo3_lite"}
TYPES = set(GenerationType.values)
ASPECTS = set(AspectRatio.values)
RESOLUTIONS = set(Resolution.values)
MESSAGES = {
    400: "1080P is processing. It should be ready in 1-2 minutes.",
    401: "You do not have access permissions",
    402: "Insufficient credits",
    404: "Not found",
    422: "Validation error",
    429: "Rate limited: too many requests",
    455: "Service unavailable: maintenance",
    500: "Server error",
    501: "Generation failed",
    505: "Feature disabled",
}


@dataclass
class Task:
    task_id: str
    body: dict
    created: float
    delay: float
    outcome: str  # success | fail | fail3 | filtered
    callback: bool
    hd_requested: float | None = None
    callbacks_sent: int = 0
    timer: threading.Timer | None = None
    kind: str = "generate"  # generate | extend | 4k
    parent: str = ""  # the task an extension or a 4K version is made from
    fail_code: int = 501
    claim: int | None = None  # the callback claims this failure code although it succeeded
    cost: int = 0
    uhd_task: str = ""  # this video's 4K task, once asked for
    directives: dict = field(default_factory=dict)

    @property
    def done_at(self) -> float:
        return self.created + self.delay

    def flag(self, now: float) -> int:
        if now < self.done_at:
            return 0
        return {"success": 1, "filtered": 1, "fail": 2, "fail3": 3}[self.outcome]

    @property
    def aspect(self) -> str:
        return self.body.get("aspectRatio", self.body.get("aspect_ratio", "16:9"))

    @property
    def resolution(self) -> str:
        return {"4k": "4k"}.get(self.kind, self.body.get("resolution", "720p"))


@dataclass
class Simulator:
    host: str = "127.0.0.1"
    port: int = 8010
    config: dict = field(default_factory=lambda: dict(DEFAULTS))
    tasks: dict[str, Task] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    # Requests as they arrive, before the simulated latency (calls counts them
    # as answered): a test can tell that a request is on the wire.
    arrived: Counter = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock)
    startup: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.startup = dict(self.config)
        self.credits = int(self.config["credits"])
        self.inflight = 0  # callbacks being delivered right now

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- generate ---------------------------------------------------------
    def generate(self, body: Any) -> tuple[int, dict]:
        self.calls["generate"] += 1
        with self.lock:
            forced = self.config["generate_error"]
            if forced:
                times = self.config["generate_error_times"]
                if times:
                    self.config["generate_error_times"] = times - 1
                    if times == 1:
                        self.config["generate_error"] = None
                return self.error(int(forced))
        if not isinstance(body, dict):
            return self.error(422, "Body must be a JSON object")
        prompt = body.get("prompt")
        directives = dict(DIRECTIVE_RE.findall(prompt)) if isinstance(prompt, str) else {}
        if "error" in directives and directives["error"].isdigit():
            return self.error(int(directives["error"]))
        problem = validate(body)
        if problem:
            return self.error(422, problem)
        model = body.get("model", "veo3_fast")
        cost = COST[model][body.get("resolution", "720p")]
        return self.start(body, directives, model=model, cost=cost)

    def start(self, body: dict, directives: dict, *, model: str, cost: int, kind: str = "generate", parent: str = ""):
        """Bill and start one task (a generation or an extension)."""
        with self.lock:
            if self.credits < cost:
                return self.error(402)
            self.credits -= cost
            task_id = secrets.token_hex(16)
            delay = float(self.config["delay"])
            if model == "veo3" and self.config["delay_quality"] is not None:
                delay = float(self.config["delay_quality"])
            if "delay" in directives:
                delay = float(directives["delay"])
            outcome = self.config["outcome"]
            if "fail" in directives:
                outcome = "fail"
            elif "filtered" in directives:
                outcome = "filtered"
            fail_code = int(directives["fail"]) if (directives.get("fail") or "").isdigit() else 501
            claim = int(directives["claim"]) if (directives.get("claim") or "").isdigit() else None
            task = Task(
                task_id=task_id,
                body=body,
                created=time.time(),
                delay=delay,
                outcome=outcome,
                callback=bool(body.get("callBackUrl")) and self.config["callbacks"] and "nocallback" not in directives,
                kind=kind,
                parent=parent,
                fail_code=fail_code,
                claim=claim,
                cost=cost,
                directives=directives,
            )
            self.tasks[task_id] = task
        self._schedule_callbacks(task)
        return 200, {"code": 200, "msg": "success", "data": {"taskId": task_id}}

    def _schedule_callbacks(self, task: Task) -> None:
        if task.callback:
            task.timer = threading.Timer(task.delay + self._url_delay(task), self.send_callbacks, args=(task.task_id,))
            task.timer.daemon = True
            task.timer.start()

    # --- extend and 4K ----------------------------------------------------
    def extend(self, body: Any) -> tuple[int, dict]:
        self.calls["extend"] += 1
        if not isinstance(body, dict):
            return self.error(422, "Body must be a JSON object")
        prompt = body.get("prompt")
        directives = dict(DIRECTIVE_RE.findall(prompt)) if isinstance(prompt, str) else {}
        if "error" in directives and directives["error"].isdigit():
            return self.error(int(directives["error"]))
        if not isinstance(prompt, str) or not prompt.strip():
            return self.error(422, "prompt is required")
        model = EXTEND_MODELS.get(body.get("model", "fast"))
        if model is None:
            return self.error(422, f"model must be one of {sorted(EXTEND_MODELS)}")
        source = self.tasks.get(body.get("taskId") if isinstance(body.get("taskId"), str) else "")
        if source is None or source.kind == "4k" or source.flag(time.time()) != 1 or source.outcome != "success":
            return self.error(422, "The task to extend is not a finished, successful video")
        if source.hd_requested is not None:
            return self.error(422, "A video upgraded to 1080p cannot be extended")
        seeds = body.get("seeds")
        if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or not 10000 <= seeds <= 99999):
            return self.error(422, "seeds must be an integer from 10000 to 99999")
        url = body.get("callBackUrl")
        if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
            return self.error(422, "callBackUrl must be a URL")
        stored = dict(body, aspectRatio=source.aspect, model=model)
        return self.start(
            stored, directives, model=model, cost=COST[model]["720p"], kind="extend", parent=source.task_id
        )

    def uhd(self, body: Any) -> tuple[int, dict]:
        """get-4k-video: the first ask starts a 4K task (with its own
        callback); asking again answers 422 while it works, then 422
        "generated successfully" with the URLs."""
        self.calls["get-4k-video"] += 1
        if not isinstance(body, dict) or not isinstance(body.get("taskId"), str):
            return self.error(422, "taskId is required")
        source = self.tasks.get(body["taskId"])
        if source is None or source.kind == "4k" or source.flag(time.time()) != 1 or source.outcome != "success":
            return self.error(422, "The task is not a finished success")
        url = body.get("callBackUrl")
        if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
            return self.error(422, "callBackUrl must be a URL")
        with self.lock:
            existing = self.tasks.get(source.uhd_task)
            if existing is None:
                if self.credits < UHD_COST:
                    return self.error(402)
                self.credits -= UHD_COST
                directives = source.directives
                task = Task(
                    task_id=secrets.token_hex(16),
                    body={"aspectRatio": source.aspect, "callBackUrl": url or ""},
                    created=time.time(),
                    delay=float(self.config["uhd_delay"]),
                    outcome="fail" if "uhdfail" in directives else "success",
                    callback=bool(url) and self.config["callbacks"] and "uhdnocallback" not in directives,
                    kind="4k",
                    parent=source.task_id,
                    fail_code=500,
                    cost=UHD_COST,
                )
                self.tasks[task.task_id] = task
                source.uhd_task = task.task_id
        if existing is None:
            self._schedule_callbacks(task)
            return 200, {"code": 200, "msg": "success", "data": {"taskId": task.task_id, "resultUrls": None}}
        flag = existing.flag(time.time())
        if flag == 0:
            return self.error(422, "4k is processing. It should be ready in 5-10 minutes")
        if flag != 1:
            return self.error(500, "The 4K version of this video is unavailable (simulated).")
        status = 200 if self.config["error_in_200"] else 422
        return status, {
            "code": 422,
            "msg": "The video has been generated successfully",
            "data": {"taskId": existing.task_id, "resultUrls": [self.video_url(existing)]},
        }

    def _url_delay(self, task: Task) -> float:
        return float(self.config["url_delay"]) if task.outcome == "success" else 0.0

    def result_urls(self, task: Task, now: float) -> tuple[list[str], list[str] | None]:
        """(resultUrls, fullResultUrls) once ready: an extension's result is
        its new seconds, its full result the whole, longer video."""
        if task.flag(now) != 1 or task.outcome != "success" or not self.urls_ready(task, now):
            return [], None
        if task.kind == "extend":
            return [self.video_url(task)], [self.video_url(task, "-full")]
        return [self.video_url(task)], None

    def error(self, code: int, msg: str = "") -> tuple[int, dict]:
        status = 200 if self.config["error_in_200"] else code
        return status, {"code": code, "msg": msg or MESSAGES.get(code, "Error"), "data": None}

    # --- status -----------------------------------------------------------
    def video_url(self, task: Task, suffix: str = "") -> str:
        return f"{self.base}/files/{task.task_id}{suffix}.mp4"

    def urls_ready(self, task: Task, now: float) -> bool:
        return now >= task.done_at + self._url_delay(task)

    def record_info(self, task_id: str) -> tuple[int, dict]:
        self.calls["record-info"] += 1
        task = self.tasks.get(task_id)
        if task is None:
            return self.error(422, "record is null")
        now = time.time()
        flag = task.flag(now)
        urls, full = self.result_urls(task, now)
        data = {
            "taskId": task.task_id,
            "paramJson": json.dumps(task.body),
            # The docs show date strings; live answers have used epoch ms.
            "createTime": datetime.fromtimestamp(task.created, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "completeTime": int(task.done_at * 1000) if flag else None,
            "response": {
                "taskId": task.task_id,
                "resultUrls": urls,
                "originUrls": None,
                "fullResultUrls": full,
                "resolution": task.resolution,
                "hasAudioList": [True],
            }
            if flag == 1
            else None,
            "successFlag": flag,
            "creditsConsumed": task.cost if flag else None,
            "errorCode": task.fail_code if flag in (2, 3) else None,
            "errorMessage": "The generation failed (simulated)." if flag in (2, 3) else None,
            "fallbackFlag": False,
        }
        return 200, {"code": 200, "msg": "success", "data": data}

    def query(self, task_id: str) -> tuple[int, dict]:
        self.calls["query"] += 1
        task = self.tasks.get(task_id)
        if task is None:
            return self.error(404, "Task not found")
        now = time.time()
        flag = task.flag(now)
        data = {
            "taskId": task.task_id,
            "successFlag": flag,
            "videoUrl": (self.result_urls(task, now)[1] or self.result_urls(task, now)[0] or [None])[0],
            "createdAt": int(task.created * 1000),
            "completedAt": datetime.fromtimestamp(task.done_at, UTC).isoformat() if flag else None,
        }
        return 200, {"code": 200, "msg": "success", "data": data}

    def hd(self, task_id: str) -> tuple[int, dict]:
        self.calls["get-1080p-video"] += 1
        task = self.tasks.get(task_id)
        if task is None or task.flag(time.time()) != 1:
            return self.error(422, "The task is not a finished success")
        if task.kind == "4k" or task.outcome != "success":
            return self.error(422, "The task is not a finished success")
        with self.lock:
            if task.hd_requested is None:
                task.hd_requested = time.time()
        if time.time() < task.hd_requested + float(self.config["hd_delay"]):
            return self.error(400)
        return 200, {"code": 200, "msg": "success", "data": {"resultUrl": self.video_url(task, "-1080p")}}

    # --- callbacks --------------------------------------------------------
    def callback_body(self, task: Task, shape: str) -> dict:
        now = time.time()
        flag = task.flag(now)
        urls, full = self.result_urls(task, now)
        if task.claim is not None and flag == 1:
            flag = 2  # the callback lies; record-info tells the truth
            code, msg = task.claim, f"Simulated failure claim ({task.claim})."
        else:
            code = task.fail_code
            msg = {408: "No result for over 10 minutes (simulated)."}.get(code, "The generation failed (simulated).")
        if task.kind == "4k" and shape != "flat":
            if flag == 1:
                return {
                    "code": 200,
                    "msg": "4K Video generated successfully.",
                    "data": {"taskId": task.task_id, "info": {"resultUrls": urls, "imageUrls": []}},
                }
            return {
                "code": 500,
                "msg": "The 4K version of this video is unavailable (simulated).",
                "data": {"taskId": task.task_id},
            }
        if shape == "flat":
            return {
                "taskId": task.task_id,
                "successFlag": flag,
                "videoUrl": ((full or urls or [None])[0]) if flag == 1 else None,
                "createdAt": int(task.created * 1000),
                "completedAt": int(task.done_at * 1000),
                "errorCode": code if flag != 1 else None,
            }
        if flag == 1:
            info = {
                # Documented both as an array and as a JSON string.
                "resultUrls": json.dumps(urls),
                "originUrls": [],
                "resolution": task.resolution,
            }
            if task.kind == "extend":
                info["fullResultUrls"] = full
            return {
                "code": 200,
                "msg": "Veo3 video generated successfully.",
                "data": {
                    "taskId": task.task_id,
                    "info": info,
                    "promptJson": json.dumps({"prompt": task.body.get("prompt")}),
                    "fallbackFlag": False,
                    "creditsConsumed": task.cost,
                },
            }
        return {"code": code, "msg": msg, "data": {"taskId": task.task_id, "fallbackFlag": False}}

    def send_callbacks(self, task_id: str) -> None:
        task = self.tasks.get(task_id)
        if task is None:  # forgotten by a reset
            return
        shape = self.config["callback_shape"]
        if shape == "alternate":
            shape = "flat" if int(task_id, 16) % 2 else "nested"
        for _ in range(1 + int(self.config["duplicate_callbacks"])):
            self.post_callback(task, self.callback_body(task, shape))

    def post_callback(self, task: Task, body: dict) -> None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        key = self.config["hmac_key"]
        if key:
            ts = str(int(time.time()))
            digest = hmac.new(key.encode(), f"{task.task_id}.{ts}".encode(), hashlib.sha256).digest()
            headers.update({"X-Webhook-Timestamp": ts, "X-Webhook-Signature": base64.b64encode(digest).decode()})
        for attempt in range(3):  # the provider retries failed deliveries
            if self.tasks.get(task.task_id) is not task:
                return
            with self.lock:
                self.inflight += 1
            try:
                # callBackUrl was validated as http(s) in validate().
                request = Request(task.body["callBackUrl"], data=data, headers=headers)  # noqa: S310
                with urlopen(request, timeout=15) as response:  # noqa: S310
                    self.calls["callback"] += 1
                    task.callbacks_sent += 1
                    if response.status == 200:
                        return
            except OSError as exc:
                log.info("callback for %s failed (%s), attempt %s", task.task_id, exc, attempt + 1)
            finally:
                with self.lock:
                    self.inflight -= 1
            time.sleep(1)

    # --- control ----------------------------------------------------------
    def set_config(self, changes: Any) -> tuple[int, dict]:
        if not isinstance(changes, dict) or set(changes) - set(DEFAULTS):
            return 400, {"error": f"unknown keys; known: {sorted(DEFAULTS)}"}
        with self.lock:
            self.config.update(changes)
            if "credits" in changes:
                self.credits = int(changes["credits"])
        return 200, {"config": self.config}

    def reset(self) -> tuple[int, dict]:
        with self.lock:
            self.config = dict(self.startup)
            for task in self.tasks.values():
                if task.timer:
                    task.timer.cancel()  # no callbacks for tasks of the past
            self.tasks.clear()
            self.calls.clear()
            self.arrived.clear()
            self.credits = int(self.config["credits"])
        return 200, {"ok": True}

    def stats(self) -> dict:
        return {
            "calls": dict(self.calls),
            "arrived": dict(self.arrived),
            "tasks": len(self.tasks),
            "credits": self.credits,
            "inflight": self.inflight,
            "config": self.config,
        }


def validate(body: dict) -> str:
    """The provider's documented rules for a generate request ('' if fine)."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    model = body.get("model", "veo3_fast")
    if model not in MODELS:
        return f"model must be one of {sorted(MODELS)}"
    kind = body.get("generationType", "TEXT_2_VIDEO")
    if kind not in TYPES:
        return "generationType is invalid"
    images = body.get("imageUrls", [])
    if not isinstance(images, list) or not all(
        isinstance(u, str) and u.startswith(("https://", "http://")) for u in images
    ):
        return "imageUrls must be a list of URLs"
    if kind == "TEXT_2_VIDEO" and images:
        return "TEXT_2_VIDEO takes no images"
    if kind == "FIRST_AND_LAST_FRAMES_2_VIDEO" and not 1 <= len(images) <= 2:
        return "FIRST_AND_LAST_FRAMES_2_VIDEO needs 1 or 2 images"
    if kind == "REFERENCE_2_VIDEO" and (not 1 <= len(images) <= 3 or model not in REFERENCE_MODELS):
        return "REFERENCE_2_VIDEO needs 1 to 3 images and the veo3_fast or veo3_lite model"
    for key in ("aspectRatio", "aspect_ratio"):
        if key in body and body[key] not in ASPECTS:
            return f"{key} must be one of {sorted(ASPECTS)}"
    if "resolution" in body and body["resolution"] not in RESOLUTIONS:
        return f"resolution must be one of {sorted(RESOLUTIONS)}"
    seeds = body.get("seeds")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or not 10000 <= seeds <= 99999):
        return "seeds must be an integer from 10000 to 99999"
    url = body.get("callBackUrl")
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
        return "callBackUrl must be a URL"
    if "enableTranslation" in body and not isinstance(body["enableTranslation"], bool):
        return "enableTranslation must be a boolean"
    if "watermark" in body and not isinstance(body["watermark"], str):
        return "watermark must be a string"
    return ""


def padded_video(sample: bytes, size: int):
    """The sample mp4, then a `free` box up to `size` bytes: still a valid
    mp4 (players skip free boxes), streamed without building it in memory."""
    yield sample
    pad = size - len(sample)
    if pad < 8:
        return
    yield pad.to_bytes(4, "big") if pad < 2**32 else (1).to_bytes(4, "big")
    if pad < 2**32:
        yield b"free"
        remaining = pad - 8
    else:  # 64-bit box size
        yield b"free" + pad.to_bytes(8, "big")
        remaining = pad - 16
    block = bytes(1024 * 1024)
    while remaining > 0:
        n = min(remaining, len(block))
        yield block[:n]
        remaining -= n


class Handler(BaseHTTPRequestHandler):
    server_version = "kie-simulator/1"
    sim: Simulator  # set on the subclass by make_server

    def log_message(self, fmt: str, *args) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        wanted = self.sim.config["api_key"]
        return bool(token) and (not wanted or hmac.compare_digest(token, wanted))

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1_000_000:
            return None
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return None

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path.startswith("/files/"):
            return self._file(path)
        if path == "/_sim/stats":
            return self._send(200, self.sim.stats())
        if path.startswith("/_sim/tasks/"):
            task = self.sim.tasks.get(path.rsplit("/", 1)[-1])
            return self._send(
                200 if task else 404, {"body": task.body, "callbacks_sent": task.callbacks_sent} if task else {}
            )
        if not path.startswith("/api/"):
            return self._send(404, {"code": 404, "msg": "Not found"})
        if not self._authorised():
            return self._send(*self.sim.error(401))
        time.sleep(float(self.sim.config["latency"]))
        if path == "/api/v1/veo/record-info":
            return self._send(*self.sim.record_info(query.get("taskId", "")))
        if path.startswith("/api/v1/veo/query/"):
            return self._send(*self.sim.query(path.rsplit("/", 1)[-1]))
        if path == "/api/v1/veo/get-1080p-video":
            return self._send(*self.sim.hd(query.get("taskId", "")))
        if path == "/api/v1/chat/credit":
            self.sim.calls["credit"] += 1
            return self._send(200, {"code": 200, "msg": "success", "data": self.sim.credits})
        return self._send(404, {"code": 404, "msg": "Not found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/_sim/config":
            return self._send(*self.sim.set_config(body))
        if path == "/_sim/reset":
            return self._send(*self.sim.reset())
        routes = {
            "/api/v1/veo/generate": self.sim.generate,
            "/api/v1/veo/extend": self.sim.extend,
            "/api/v1/veo/get-4k-video": self.sim.uhd,
        }
        if path not in routes:
            return self._send(404, {"code": 404, "msg": "Not found"})
        if not self._authorised():
            return self._send(*self.sim.error(401))
        self.sim.arrived[path.rsplit("/", 1)[1]] += 1
        time.sleep(float(self.sim.config["latency"]))
        return self._send(*routes[path](body))

    def _file(self, path: str) -> None:
        match = re.fullmatch(r"/files/([0-9a-f]{32})(-1080p|-full)?\.mp4", path)
        task = self.sim.tasks.get(match.group(1)) if match else None
        if task is None:
            return self._send(404, {"error": "no such file"})
        portrait = task.aspect == "9:16"
        full = "-full" if match.group(2) == "-full" else ""
        sample = SAMPLES[("portrait" if portrait else "landscape") + full]
        size = max(int(self.sim.config["video_bytes"]), len(sample))
        self.sim.calls["file"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        rate = int(self.sim.config["file_rate"])
        try:
            for chunk in padded_video(sample, size):
                for start in range(0, len(chunk), 64 * 1024):
                    piece = chunk[start : start + 64 * 1024]
                    self.wfile.write(piece)
                    if rate:
                        time.sleep(len(piece) / rate)
        except (BrokenPipeError, ConnectionResetError):
            pass


def make_server(sim: Simulator) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"sim": sim})
    server = ThreadingHTTPServer((sim.host, sim.port), handler)
    server.daemon_threads = True
    sim.port = server.server_address[1]
    return server


def serve(sim: Simulator, *, ready=None) -> None:
    server = make_server(sim)
    if ready:
        ready(sim)
    try:
        server.serve_forever()
    finally:
        server.server_close()
