"""Safe downloads: scheme and host allowlist, no redirects off it, a size
cap, an mp4 check, streaming into storage."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.core.files.storage import default_storage

from kiesim.server import SAMPLES
from videos.downloads import DownloadError, check_url, store_video
from videos.kie import KieClient
from videos.vocabulary import VideoRequest

SAMPLE = SAMPLES["landscape"]


class Hostile(BaseHTTPRequestHandler):
    """A video host that misbehaves in the ways the path names."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/redirect-away":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
        elif self.path == "/redirect-home":
            self.send_response(302)
            self.send_header("Location", "/video.mp4")
            self.end_headers()
        elif self.path == "/video.mp4":
            data = SAMPLE
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/html":
            data = b"<html>not a video</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/boom":
            self.send_response(503)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.example.com/v.mp4",
        "https://169.254.169.254/x",
        "ftp://127.0.0.1/v.mp4",
        "file:///etc/passwd",
        "http://tempfile.aiquickdraw.com/v.mp4",
    ],
)
def test_urls_off_the_allowlist_are_refused(url, settings):
    settings.KIE_DOWNLOAD_HOSTS = ["127.0.0.1", "tempfile.aiquickdraw.com"]
    with pytest.raises(DownloadError) as info:
        check_url(url)
    assert not info.value.retryable


def test_https_on_the_allowlist_is_allowed(settings):
    settings.KIE_DOWNLOAD_HOSTS = ["tempfile.aiquickdraw.com"]
    check_url("https://tempfile.aiquickdraw.com/v/abc.mp4")


def test_redirect_off_the_allowlist_is_not_followed(hostile, db):
    with pytest.raises(DownloadError, match="allowlist"):
        store_video(f"{hostile}/redirect-away", name="videos/t/a.mp4")


def test_redirect_within_the_allowlist_is_followed(hostile, db):
    stored = store_video(f"{hostile}/redirect-home", name="videos/t/b.mp4")
    assert stored.size == len(SAMPLE) and default_storage.exists(stored.name)


def test_non_video_is_refused(hostile, db):
    with pytest.raises(DownloadError, match="not an MP4") as info:
        store_video(f"{hostile}/html", name="videos/t/c.mp4")
    assert not info.value.retryable


def test_server_error_is_retryable(hostile, db):
    with pytest.raises(DownloadError) as info:
        store_video(f"{hostile}/boom", name="videos/t/d.mp4")
    assert info.value.retryable


def test_size_cap_is_enforced_while_streaming(sim, settings, db):
    sim.config(video_bytes=5 * 1024 * 1024, delay=0)
    task_id = KieClient(base_url=sim.url, api_key="k").generate(VideoRequest(prompt="big"))
    settings.KIE_DOWNLOAD_MAX_BYTES = 1024 * 1024
    with pytest.raises(DownloadError, match="limit") as info:
        store_video(f"{sim.url}/files/{task_id}.mp4", name="videos/t/e.mp4")
    assert not info.value.retryable
    settings.KIE_DOWNLOAD_MAX_BYTES = 6 * 1024 * 1024
    stored = store_video(f"{sim.url}/files/{task_id}.mp4", name="videos/t/e.mp4")
    assert stored.size == 5 * 1024 * 1024
    with default_storage.open(stored.name) as f:
        assert f.read(8)[4:8] == b"ftyp"


def test_simulator_padded_video_is_still_a_valid_mp4(sim):
    """The simulator pads big videos with an mp4 'free' box."""
    sim.config(video_bytes=300_000, delay=0)
    task_id = KieClient(base_url=sim.url, api_key="k").generate(VideoRequest(prompt="padded"))
    data = requests.get(f"{sim.url}/files/{task_id}.mp4", timeout=5).content
    assert len(data) == 300_000
    # Walk the top-level boxes: they must tile the file exactly.
    offset, kinds = 0, []
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kinds.append(data[offset + 4 : offset + 8])
        offset += size
    assert offset == len(data) and kinds[0] == b"ftyp" and kinds[-1] == b"free" and b"moov" in kinds
