"""Uploads kept across a failed submission.

When the generate form comes back with errors, the images that were fine
are saved here and the form carries a token for each instead of asking the
person to pick them again. The session says which tokens are theirs, so a
token alone opens nothing; a successful submission clears what it used.
"""

import secrets
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

SESSION_KEY = "upload_stash"
EXTENSIONS = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}
MAX_KEPT = 9  # per session; older ones are dropped (and their files deleted)
KEEP_FOR = timedelta(hours=24)  # kept uploads nobody came back for are swept after this


def _entries(session) -> dict:
    return dict(session.get(SESSION_KEY, {}))


def stash_put(session, upload) -> str:
    """Save `upload` and return its token."""
    token = secrets.token_urlsafe(18)
    content_type = getattr(upload, "content_type", "") or "image/jpeg"
    upload.seek(0)
    name = default_storage.save(f"stash/{token}.{EXTENSIONS.get(content_type, 'jpg')}", upload)
    entries = _entries(session)
    entries[token] = {"name": name, "content_type": content_type, "filename": getattr(upload, "name", "") or name}
    while len(entries) > MAX_KEPT:
        old = entries.pop(next(iter(entries)))
        default_storage.delete(old["name"])
    session[SESSION_KEY] = entries
    return token


def stash_get(session, token: str) -> dict | None:
    return _entries(session).get(token or "")


def stash_open(session, token: str) -> SimpleUploadedFile | None:
    """The kept upload as a fresh upload object, or None if the token is
    not this session's or its file is gone."""
    entry = stash_get(session, token)
    if entry is None or not default_storage.exists(entry["name"]):
        return None
    with default_storage.open(entry["name"], "rb") as handle:
        data = handle.read()
    return SimpleUploadedFile(entry["filename"].rsplit("/", 1)[-1], data, content_type=entry["content_type"])


def stash_clear(session, tokens) -> None:
    entries = _entries(session)
    for token in tokens:
        entry = entries.pop(token, None)
        if entry:
            default_storage.delete(entry["name"])
    session[SESSION_KEY] = entries


def stash_sweep(now: datetime | None = None) -> int:
    """Delete kept uploads older than KEEP_FOR (a person who never came back
    after a failed submission). Scheduled hourly; returns how many went."""
    cutoff = (now or timezone.now()) - KEEP_FOR
    try:
        _, names = default_storage.listdir("stash")
    except FileNotFoundError:
        return 0
    removed = 0
    for name in names:
        path = f"stash/{name}"
        if default_storage.get_modified_time(path) < cutoff:
            default_storage.delete(path)
            removed += 1
    return removed
