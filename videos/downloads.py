"""Copying a result video from the provider into our storage, safely.

The URL goes through the one untrusted-URL policy (`untrusted.urlpolicy`,
download rules: KIE_DOWNLOAD_HOSTS only, https except for a loopback
simulator), fetched by `untrusted.fetch` (every redirect hop and every
connected address checked). Only a whole MP4 is stored: we ask for the
bytes unencoded, count what came over the wire against Content-Length, cap
the size while streaming, and walk the file's boxes (`videos.mp4`) so that
a file cut short without a Content-Length, or a page that merely contains
`ftyp`, is refused. The bytes stream through the storage module's spool (a
temporary file, counted and hashed) into storage, never held in memory
whole.

Every failure is a DownloadError whose `retryable` says whether fetching
again can help; no input makes this module raise anything else.
"""

import re
from dataclasses import dataclass

import requests
import urllib3
from django.conf import settings

from untrusted import fetch, urlpolicy

from . import storage
from .mp4 import NotWholeMp4, check_whole_mp4

CHUNK = 256 * 1024
MAX_REDIRECTS = 3
_LENGTH = re.compile(r"\d{1,18}")


class DownloadError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class StoredVideo:
    name: str
    size: int
    sha256: str


def check_url(url: str) -> urlpolicy.CheckedUrl:
    """Raise DownloadError (permanent) unless `url` may be downloaded."""
    try:
        return urlpolicy.check(url, urlpolicy.download_policy())
    except urlpolicy.UrlRefused as exc:
        raise DownloadError(str(exc), retryable=False) from None


def store_video(url: str, *, name: str, session: requests.Session | None = None) -> StoredVideo:
    """Stream `url` into storage under `name` (through storage.Spool); only
    a whole MP4 is stored.

    Raises DownloadError: retryable for network errors, 5xx/408/429 and
    files cut short; permanent for a refused or unparseable URL, another
    4xx, an oversize body or bytes that are not an MP4.
    """
    limit = settings.KIE_DOWNLOAD_MAX_BYTES
    response = _open(url, session=session)
    with response, storage.Spool() as spool:
        declared = _declared_length(response, limit)
        _copy(response, spool, limit)
        # Count the body bytes that came over the wire (before any content
        # decoding, which a server may apply although we asked for none).
        wire = response.raw.tell()
        if declared is not None and wire != declared:
            raise DownloadError(f"The download was cut short ({wire} of {declared} bytes)", retryable=True)
        try:
            check_whole_mp4(spool.file, spool.size, length_declared=declared is not None)
        except NotWholeMp4 as exc:
            raise DownloadError(str(exc), retryable=exc.truncated) from None
        try:
            stored = spool.save(name)
        except storage.StorageError as exc:
            raise DownloadError(str(exc), retryable=True) from None
    return StoredVideo(name=stored.name, size=stored.size, sha256=stored.sha256)


def _open(url: str, *, session: requests.Session | None) -> requests.Response:
    timeout = (settings.KIE_CONNECT_TIMEOUT, settings.KIE_DOWNLOAD_TIMEOUT)
    try:
        response = fetch.open_stream(
            url,
            policy=urlpolicy.download_policy(),
            # Identity: the length we check and the bytes we store are the file's own.
            headers={"Accept-Encoding": "identity"},
            timeout=timeout,
            max_redirects=MAX_REDIRECTS,
            session=session,
        )
    except urlpolicy.UrlRefused as exc:
        raise DownloadError(str(exc), retryable=False) from None
    except fetch.FetchError as exc:
        raise DownloadError(str(exc), retryable=exc.retryable) from None
    if response.status_code != 200:
        response.close()
        retryable = response.status_code >= 500 or response.status_code in (408, 429)
        raise DownloadError(f"The video host answered HTTP {response.status_code}", retryable=retryable)
    return response


def _declared_length(response: requests.Response, limit: int) -> int | None:
    """Content-Length as a number (None when absent); a malformed one, or
    one over the limit, is refused before a byte is read."""
    header = response.headers.get("Content-Length")
    if header is None:
        return None
    values = {v.strip() for v in header.split(",")}  # repeated headers arrive joined by commas
    if len(values) != 1 or not _LENGTH.fullmatch(next(iter(values))):
        raise DownloadError("The video host sent a malformed Content-Length", retryable=False)
    declared = int(values.pop())
    if declared > limit:
        raise DownloadError(f"The video is {declared} bytes, over the {limit} byte limit", retryable=False)
    return declared


def _copy(response: requests.Response, spool: storage.Spool, limit: int) -> None:
    try:
        for chunk in response.raw.stream(CHUNK, decode_content=True):
            if spool.size + len(chunk) > limit:
                raise DownloadError(f"The video is over the {limit} byte limit", retryable=False)
            spool.write(chunk)
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        raise DownloadError(f"The download broke off ({type(exc).__name__})", retryable=True) from None
