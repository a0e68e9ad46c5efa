"""Serving a stored file with HTTP Range support (single ranges), so
browsers can seek in videos. Multiple ranges get the whole file (allowed by
RFC 9110); an unsatisfiable range gets 416."""

import re

from django.db import connection
from django.http import FileResponse, HttpResponse, StreamingHttpResponse

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """(first, last) inclusive, None for "send everything", "unsatisfiable"."""
    match = RANGE_RE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return max(size - n, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


def _stream(handle, start: int, length: int):
    with handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def release_database() -> None:
    """A video stream can last minutes (or stall in a paused player): it must
    not hold a database connection all that time. Everything the response
    needs is read by now."""
    if not connection.in_atomic_block:
        connection.close()


def ranged_file_response(request, field_file, *, content_type: str, filename: str) -> HttpResponse:
    size = field_file.size
    wanted = parse_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = FileResponse(field_file.open("rb"), content_type=content_type, filename=filename)
        response["Content-Length"] = str(size)
    else:
        start, end = wanted
        length = end - start + 1
        response = StreamingHttpResponse(
            _stream(field_file.open("rb"), start, length), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    release_database()
    return response
