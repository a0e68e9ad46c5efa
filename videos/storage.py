"""Where stored files live: the one module that knows local disk from object
storage.

Everything the app keeps (videos, 1080p upgrades, posters, input images)
goes through Django's default storage: `FileSystemStorage` under
`MEDIA_ROOT`, or django-storages' `S3Storage` when `AWS_STORAGE_BUCKET_NAME`
is set (settings.py). The callers never ask which: they save a stream
(`Spool`), open, delete, check, and ask for a way to hand the bytes to a
client (`serve`, `provider_url`, `readable`). That way no web process needs
the disk of the worker that stored a file, and no video byte passes through
Django in production: S3 serves presigned URLs, nginx serves `X-Accel-Redirect`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse, HttpResponseRedirect
from storages.backends.s3 import S3Storage as BaseS3Storage

log = logging.getLogger(__name__)

# Presigned URLs are signed with SigV4, which allows at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


class StorageError(Exception):
    """The store did not answer or refused: worth retrying later."""


@dataclass(frozen=True)
class Stored:
    name: str
    size: int
    sha256: str


class S3Storage(BaseS3Storage):
    """django-storages' S3 storage whose boto3 sessions (one per thread)
    share one model loader: a fresh loader parses the S3 model again, most
    of a second of CPU, in every gunicorn thread and health probe."""

    def _create_session(self):
        session = super()._create_session()
        session._session.register_component("data_loader", _shared_loader())
        return session


@functools.cache
def _shared_loader():
    import botocore.loaders

    return botocore.loaders.create_loader()


def warm() -> None:
    """Load the S3 model in the background when a process starts, so the
    first viewer or health probe does not wait for it."""
    if uses_object_storage():
        threading.Thread(target=lambda: default_storage.connection, daemon=True, name="s3-warm").start()


def uses_object_storage() -> bool:
    return bool(getattr(settings, "AWS_STORAGE_BUCKET_NAME", ""))


def _store_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the store failed", for either backend."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    except ImportError:  # local storage only: boto is optional then
        pass
    return tuple(errors)


@contextlib.contextmanager
def _translated(action: str, name: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except _store_errors() as exc:
        # The exception names the endpoint and bucket, never the credentials.
        log.warning("storage %s of %s failed: %s", action, name, exc)
        raise StorageError(f"The file store failed to {action} ({type(exc).__name__})") from exc


class Spool:
    """A stream being stored: written chunk by chunk to a temporary file on
    the worker (never held in memory whole), counted and hashed on the way,
    then handed to the storage in one `save` (a streamed multipart upload
    with object storage).

        with Spool() as spool:
            for chunk in source: spool.write(chunk)
            stored = spool.save("videos/1/abc.mp4")
    """

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)
        self._digest = hashlib.sha256()
        self.size = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    @property
    def file(self) -> IO[bytes]:
        """The temporary file itself, to inspect what was written (seek freely)."""
        return self._file

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def head(self, n: int) -> bytes:
        """The first `n` bytes written (to check a file's signature)."""
        self._file.seek(0)
        data = self._file.read(n)
        self._file.seek(0, os.SEEK_END)
        return data

    def save(self, name: str) -> Stored:
        """Store what was written under `name`; raises StorageError."""
        self._file.seek(0)
        with _translated("save", name):
            stored_name = default_storage.save(name, File(self._file, name=name))
        return Stored(name=stored_name, size=self.size, sha256=self.sha256)


def save(name: str, content: IO[bytes] | File) -> str:
    """Store a small file (an upload, a poster); returns the name it got."""
    with _translated("save", name):
        return default_storage.save(name, content)


def open_file(name: str) -> IO[bytes]:
    """The stored file for reading; FileNotFoundError when it is gone."""
    with _translated("open", name):
        return default_storage.open(name, "rb")


def delete(name: str) -> None:
    """Remove a stored file; a file already gone is not an error."""
    if not name:
        return
    with _translated("delete", name), contextlib.suppress(FileNotFoundError):
        default_storage.delete(name)


def exists(name: str) -> bool:
    with _translated("check", name):
        return bool(name) and default_storage.exists(name)


def _presigned(name: str, *, seconds: int, content_type: str = "", filename: str = "") -> str:
    params = {}
    if content_type:
        params["ResponseContentType"] = content_type
    if filename:
        params["ResponseContentDisposition"] = f'inline; filename="{filename}"'
        params["ResponseCacheControl"] = f"private, max-age={seconds}"
    return default_storage.url(name, parameters=params, expire=min(seconds, MAX_PRESIGN_SECONDS))


def provider_url(name: str) -> str | None:
    """A URL the provider can fetch an input image from without our app in
    the way: presigned, valid past the job's deadline. None with local
    storage (the app serves the file at an unguessable URL instead)."""
    if not uses_object_storage():
        return None
    return _presigned(name, seconds=settings.JOB_DEADLINE_SECONDS + 3600)


@contextlib.contextmanager
def readable(name: str) -> Iterator[str]:
    """A path or URL that a tool such as ffmpeg can read the stored file
    from: the local path, or a short-lived presigned URL (ffmpeg seeks with
    HTTP ranges, so it reads only what it needs)."""
    if uses_object_storage():
        yield _presigned(name, seconds=600)
    else:
        yield default_storage.path(name)


def serve(request, name: str, *, content_type: str, filename: str) -> HttpResponse:
    """The answer that delivers a stored file to a viewer already checked by
    the caller. Object storage: a redirect to a short-lived presigned URL
    (the store serves Range). Local files behind nginx
    (`MEDIA_X_ACCEL_PREFIX`): an empty answer whose `X-Accel-Redirect` makes
    nginx send the file from its internal location. Otherwise (development):
    Django's own ranged response."""
    if uses_object_storage():
        url = _presigned(name, seconds=settings.MEDIA_URL_SECONDS, content_type=content_type, filename=filename)
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "private, no-store"  # the URL expires: never reuse this answer
        return response
    if not default_storage.exists(name):
        raise Http404("The file is missing.")
    if settings.MEDIA_X_ACCEL_PREFIX:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.MEDIA_X_ACCEL_PREFIX.rstrip("/") + "/" + quote(name)
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response
    from .ranges import ranged_file_response

    return ranged_file_response(request, default_storage.open(name, "rb"), content_type=content_type, filename=filename)
