"""Copying a result video from the provider into our storage, safely.

Only https URLs on an allowed host (plain http only for an allowed loopback
host: the simulator), redirects followed only while they stay on the
allowlist, a size cap enforced while streaming, the mp4 signature checked,
and the bytes streamed into storage.Spool: never held in memory whole.
"""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from . import storage

CHUNK = 256 * 1024
MAX_REDIRECTS = 3


class DownloadError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class StoredVideo:
    name: str
    size: int
    sha256: str


def check_url(url: str) -> None:
    """Raise DownloadError unless `url` may be fetched."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    allowed = {h.lower() for h in settings.KIE_DOWNLOAD_HOSTS}
    if host not in allowed:
        raise DownloadError(f"Host {host or '?'} is not on the download allowlist", retryable=False)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(host):
        return
    raise DownloadError(f"Scheme {parts.scheme or '?'} is not allowed for {host}", retryable=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def store_video(url: str, *, name: str, session: requests.Session | None = None) -> StoredVideo:
    """Stream `url` into storage under `name` (through a temporary file:
    see storage.Spool), checking size and type on the way.

    Raises DownloadError (retryable for network errors and 5xx, not for a
    refused URL, a 4xx, an oversize or non-video body).
    """
    http = session or requests.Session()
    limit = settings.KIE_DOWNLOAD_MAX_BYTES
    response = _open(http, url)
    with response, storage.Spool() as spool:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise DownloadError(f"The video is {declared} bytes, over the {limit} byte limit", retryable=False)
        try:
            for chunk in response.iter_content(CHUNK):
                if spool.size + len(chunk) > limit:
                    raise DownloadError(f"The video is over the {limit} byte limit", retryable=False)
                spool.write(chunk)
        except requests.RequestException as exc:
            raise DownloadError(f"The download broke off ({type(exc).__name__})", retryable=True) from None
        if declared and declared.isdigit() and int(declared) != spool.size:
            raise DownloadError("The download was cut short", retryable=True)
        head = spool.head(12)
        if len(head) < 12 or head[4:8] != b"ftyp":
            raise DownloadError("The file is not an MP4 video", retryable=False)
        try:
            stored = spool.save(name)
        except storage.StorageError as exc:
            raise DownloadError(str(exc), retryable=True) from None
    return StoredVideo(name=stored.name, size=stored.size, sha256=stored.sha256)


def _open(http: requests.Session, url: str) -> requests.Response:
    timeout = (settings.KIE_CONNECT_TIMEOUT, settings.KIE_DOWNLOAD_TIMEOUT)
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url)
        try:
            response = http.get(url, stream=True, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise DownloadError(f"Could not fetch the video ({type(exc).__name__})", retryable=True) from None
        if response.is_redirect:
            location = response.headers.get("Location", "")
            response.close()
            url = urljoin(url, location)
            continue
        if response.status_code != 200:
            response.close()
            retryable = response.status_code >= 500 or response.status_code in (408, 429)
            raise DownloadError(f"The video host answered HTTP {response.status_code}", retryable=retryable)
        return response
    raise DownloadError("Too many redirects", retryable=False)
