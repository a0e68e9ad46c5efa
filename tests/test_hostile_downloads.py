"""Only whole MP4 files are stored: a real loopback video host that
misbehaves in hundreds of ways (cut short with and without Content-Length,
chunked and cut, gzip although identity was asked, pages with `ftyp` at byte
4, broken box arithmetic, lying lengths, error statuses, redirects off the
allowlist), then the same hosts behind real jobs: every job ends final,
failures refunded once, nothing half-written left in storage.
"""

import contextlib
import gzip
import hashlib
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import LedgerEntry
from kiesim.server import SAMPLES
from videos import services
from videos.downloads import DownloadError, store_video
from videos.kie import KieClient
from videos.models import Job
from videos.mp4 import NotWholeMp4, check_whole_mp4
from videos.retry import RULES
from videos.vocabulary import VideoRequest

from .conftest import make_user

MAX_DOWNLOAD_ATTEMPTS = len(RULES["download"].delays()) + 1  # the first attempt and its retries

SAMPLE = SAMPLES["landscape"]
SAMPLE_SHA = hashlib.sha256(SAMPLE).hexdigest()
STORED, RETRY, FINAL = "stored", "retryable", "final"


def box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def large_box(kind: bytes, payload: bytes) -> bytes:
    return (1).to_bytes(4, "big") + kind + (16 + len(payload)).to_bytes(8, "big") + payload


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
MOOV = box(b"moov", box(b"mvhd", bytes(100)))
MDAT = box(b"mdat", bytes(500))


@dataclass
class Case:
    """What the host does for one URL, and what must come of it."""

    name: str
    expect: str
    body: bytes = SAMPLE
    status: int = 200
    length: str | None = "auto"  # Content-Length header: "auto" (true length of body), None, or a literal
    send: int | None = None  # bytes of the body actually sent before closing (None: all)
    chunked: bool = False
    encoding: str | None = None  # Content-Encoding header; "gzip" also compresses
    headers: list = field(default_factory=list)
    stall: float = 0.0  # seconds to stall halfway (read timeouts)


CASES: list[Case] = []


def cases() -> list[Case]:
    found = [
        Case("whole", STORED),
        Case("whole, no length", STORED, length=None),
        Case("whole, chunked", STORED, length=None, chunked=True),
        Case("whole, gzip although identity asked", STORED, encoding="gzip"),
        Case("whole, gzip, chunked", STORED, encoding="gzip", length=None, chunked=True),
        Case("whole, repeated equal lengths", STORED, length=f"{len(SAMPLE)}, {len(SAMPLE)}"),
        Case("64-bit box sizes", STORED, body=FTYP + large_box(b"moov", bytes(50)) + large_box(b"mdat", bytes(900))),
        Case("minimal boxes, no tracks", STORED, body=FTYP + MOOV + MDAT),
        Case("html with ftyp at byte 4", FINAL, body=b"<!--ftyp--><html><body>not a video</body></html>"),
        Case("html page", FINAL, body=b"<!doctype html><html><title>Error</title></html>" * 10),
        Case("json error", FINAL, body=b'{"error": "expired"}'),
        Case("ftyp only", FINAL, body=FTYP),
        Case("no moov", FINAL, body=FTYP + MDAT),
        Case("no mdat", FINAL, body=FTYP + MOOV),
        Case("moov first", FINAL, body=MOOV + FTYP + MDAT),
        Case("open-ended last box", FINAL, body=FTYP + MOOV + (0).to_bytes(4, "big") + b"mdat" + bytes(64)),
        Case("box smaller than its header", FINAL, body=FTYP + MOOV + (4).to_bytes(4, "big") + b"mdat" + bytes(64)),
        Case("giant ftyp", FINAL, body=box(b"ftyp", bytes(5000)) + MOOV + MDAT),
        Case("box type not text", FINAL, body=FTYP + box(b"\x00\x01\x02\x03", bytes(8)) + MOOV + MDAT),
        Case("trailing garbage", RETRY, body=SAMPLE + b"junk"),
        Case("box overruns the file", RETRY, body=FTYP + MOOV + box(b"mdat", bytes(500))[:-100]),
        Case("empty", RETRY, body=b""),
        Case("empty, no length", RETRY, body=b"", length=None),
        Case("length says more, connection closes", RETRY, length=str(len(SAMPLE) + 1000)),
        Case("length says less", RETRY, length=str(len(SAMPLE) - 1000)),
        Case("length not a number", FINAL, length="abc"),
        Case("length negative", FINAL, length="-5"),
        Case("length in exponent form", FINAL, length="2e4"),
        Case("two different lengths", FINAL, length=f"{len(SAMPLE)}, {len(SAMPLE) + 1}"),
        Case("length absurd", FINAL, length="9" * 30),
        Case("gzip header, plain body", RETRY, headers=[("Content-Encoding", "gzip")]),
        Case("chunked, cut", RETRY, length=None, chunked=True, send=len(SAMPLE) // 2),
        Case("partial content", FINAL, status=206),
        Case("stalls past the read timeout", RETRY, stall=1.5),
    ]
    for status in (400, 401, 403, 404, 410, 451):
        found.append(Case(f"HTTP {status}", FINAL, status=status, body=b"no"))
    for status in (408, 429, 500, 502, 503, 504):
        found.append(Case(f"HTTP {status}", RETRY, status=status, body=b"later"))
    # Cut short at every 97th byte, with the true length declared, with none,
    # and chunked: whatever the cut, never stored.
    for cut in range(0, len(SAMPLE), 97):
        found.append(Case(f"cut at {cut}", RETRY, send=cut))
        found.append(Case(f"cut at {cut}, no length", RETRY, length=None, send=cut))
        found.append(Case(f"cut at {cut}, chunked", RETRY, length=None, chunked=True, send=cut))
    # Random bytes, and random bytes that start like an mp4.
    rng = random.Random(15)
    for n in range(60):
        noise = rng.randbytes(rng.randrange(0, 3000))
        found.append(Case(f"noise {n}", "failed", body=noise))
        found.append(Case(f"ftyp then noise {n}", "failed", body=FTYP + noise))
    return found


class VideoHost(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        index = int(self.path.strip("/").split("/")[-1].split(".")[0])
        case = CASES[index]
        body = gzip.compress(case.body) if case.encoding == "gzip" else case.body
        sent = body if case.send is None else body[: case.send]
        self.send_response(case.status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Connection", "close")
        if case.encoding:
            self.send_header("Content-Encoding", case.encoding)
        for name, value in case.headers:
            self.send_header(name, value)
        if case.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif case.length == "auto":
            self.send_header("Content-Length", str(len(body)))
        elif case.length is not None:
            self.send_header("Content-Length", case.length)
        self.end_headers()
        try:
            if case.chunked:
                for start in range(0, len(sent), 4096):
                    piece = sent[start : start + 4096]
                    self.wfile.write(f"{len(body[start : start + 4096]):x}\r\n".encode() + piece)
                    if len(piece) == len(body[start : start + 4096]):
                        self.wfile.write(b"\r\n")
                if case.send is None:
                    self.wfile.write(b"0\r\n\r\n")
            else:
                half = len(sent) // 2
                self.wfile.write(sent[:half])
                if case.stall:
                    self.wfile.flush()
                    time.sleep(case.stall)
                self.wfile.write(sent[half:])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        # Close without a clean shutdown, as a dying server would.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def host():
    CASES[:] = cases()
    server = ThreadingHTTPServer(("127.0.0.1", 0), VideoHost)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def quick(settings):
    settings.KIE_DOWNLOAD_HOSTS = ["127.0.0.1"]
    settings.KIE_DOWNLOAD_TIMEOUT = 0.5
    settings.KIE_CONNECT_TIMEOUT = 2


def stored_files(prefix: str) -> set[str]:
    try:
        return set(default_storage.listdir(prefix)[1])
    except FileNotFoundError:
        return set()


def outcome(url: str, name: str) -> tuple[str, object]:
    try:
        stored = store_video(url, name=name)
    except DownloadError as exc:
        return (RETRY if exc.retryable else FINAL), exc
    return STORED, stored


def test_only_whole_mp4_files_are_stored(host, quick, hostile_tally):
    wrong = []
    for index, case in enumerate(CASES):
        before = stored_files("videos/hostile")
        hostile_tally.inputs += 1
        got, detail = outcome(f"{host}/{index}.mp4", name=f"videos/hostile/{index}.mp4")
        after = stored_files("videos/hostile")
        if got == STORED:
            with default_storage.open(detail.name) as f:
                data = f.read()
            whole = data == case.body and detail.sha256 == hashlib.sha256(data).hexdigest()
            if not whole:
                hostile_tally.partial_writes += 1
        elif after != before:
            hostile_tally.partial_writes += 1
        expected = case.expect if case.expect != "failed" else got if got != STORED else "a failure"
        if got != expected:
            wrong.append((case.name, case.expect, got, str(detail)))
    assert wrong == []
    assert hostile_tally.partial_writes == 0


def test_gzip_complete_file_is_the_file_itself(host, quick):
    index = next(i for i, c in enumerate(CASES) if c.name == "whole, gzip although identity asked")
    stored = store_video(f"{host}/{index}.mp4", name="videos/hostile/gz.mp4")
    assert stored.sha256 == SAMPLE_SHA and stored.size == len(SAMPLE)


def test_the_host_is_asked_for_identity_encoding(settings):
    seen = {}

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen["accept-encoding"] = self.headers.get("Accept-Encoding")
            self.send_response(200)
            self.send_header("Content-Length", str(len(SAMPLE)))
            self.end_headers()
            self.wfile.write(SAMPLE)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store_video(f"http://127.0.0.1:{server.server_address[1]}/v.mp4", name="videos/hostile/id.mp4")
    finally:
        server.shutdown()
    assert seen["accept-encoding"] == "identity"


@pytest.mark.parametrize("size", [len(SAMPLE), len(SAMPLE) + 8, len(SAMPLE) + 1000, 300_000])
@pytest.mark.parametrize("aspect_ratio", ["16:9", "9:16"])
def test_the_simulators_files_are_whole_mp4s(sim, size, aspect_ratio, db):
    sim.config(video_bytes=size, delay=0)
    task_id = KieClient(base_url=sim.url, api_key="k").generate(VideoRequest(prompt="x", aspect_ratio=aspect_ratio))
    stored = store_video(f"{sim.url}/files/{task_id}.mp4", name="videos/hostile/sim.mp4")
    assert stored.size == size
    with default_storage.open(stored.name) as f:
        kinds = [b.kind for b in check_whole_mp4(f, size)]
    assert kinds[0] == "ftyp" and "moov" in kinds and "mdat" in kinds


def test_box_walk_reports_truncation_apart_from_garbage():
    import io

    with pytest.raises(NotWholeMp4) as cut:
        check_whole_mp4(io.BytesIO(SAMPLE[:5000]), 5000)
    assert cut.value.truncated
    page = b"<!--ftyp-->" + b"x" * 100
    with pytest.raises(NotWholeMp4) as html:
        check_whole_mp4(io.BytesIO(page), len(page))
    assert not html.value.truncated
    # Cut exactly between two boxes: a missing box is truncation only when
    # nobody told us the length.
    head = SAMPLE[:2467]  # ftyp + moov
    with pytest.raises(NotWholeMp4) as boundary:
        check_whole_mp4(io.BytesIO(head), len(head), length_declared=False)
    assert boundary.value.truncated


# --- behind real jobs ---------------------------------------------------------------


def run_downloads_to_the_end(job_ids: list[int]) -> None:
    """Drive each job's download until it ends: each attempt as the worker
    would run it, with the retry time brought forward (time passing)."""
    for _ in range(MAX_DOWNLOAD_ATTEMPTS + 2):
        for job_id in job_ids:
            Job.objects.filter(pk=job_id, status=Job.Status.DOWNLOADING).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1), lease_until=None
            )
            services.job_download(job_id)


def test_every_hostile_download_job_ends_final_and_failures_are_refunded(host, quick, django_user_model, hostile_tally):
    from billing.models import Wallet
    from billing.services import credits_charge

    user = make_user(django_user_model, "carol", credits=10_000)
    start = Wallet.objects.get(user=user).balance
    urls = [f"{host}/{i}.mp4" for i, c in enumerate(CASES) if not c.stall][::5]
    urls += ["http://[::1/v.mp4", "http://127.0.0.1\\@127.0.0.2/v.mp4", "https://169.254.169.254/latest", "x"]
    jobs = []
    for url in urls:
        job = Job.objects.create(
            user=user, prompt="p", price_credits=3, status=Job.Status.DOWNLOADING, provider_video_url=url
        )
        credits_charge(user_id=user.pk, amount=3, reference=job.charge_reference, reason="test")
        jobs.append(job.pk)
    hostile_tally.inputs += len(jobs)
    run_downloads_to_the_end(jobs)
    left = Job.objects.filter(pk__in=jobs).exclude(status__in=Job.FINAL).count()
    hostile_tally.jobs_left_non_final += left
    assert left == 0
    succeeded = 0
    for job in Job.objects.filter(pk__in=jobs):
        refunds = LedgerEntry.objects.filter(reference=job.charge_reference, kind="refund").count()
        if job.status == Job.Status.SUCCEEDED:
            succeeded += 1
            assert job.video_sha256 and default_storage.exists(job.video_file.name) and refunds == 0
        else:
            assert job.error_message and not job.video_file and refunds == 1
    assert 0 < succeeded < len(jobs) // 4
    assert Wallet.objects.get(user=user).balance == start - 3 * succeeded
