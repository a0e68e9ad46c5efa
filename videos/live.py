"""status.json that stays cheap when thousands of job pages are open.

Every answer carries an ETag (a hash of the payload) and `Cache-Control:
no-cache`, so the browser's own fetch revalidates with If-None-Match and an
unchanged job costs a 304 with no body. With a shared cache
(`LIVE_STATUS_CACHE`, on with Redis), the answer for the job's owner comes
from the cache without reading the session's user or the job: the job's row
as last read, filed under the job's version token (see `versions`), and the
owner's session hash, dropped whenever the user is saved (a password change
or a deactivation then takes effect at the next check, as with a page).
Anything unusual (staff viewing another's job, a cache miss, a changed job)
goes the ordinary way through the database. The payload is rebuilt from
the cached row by `selectors.status_payload`, so it must read the job's own
columns only (tests/test_live_status.py counts the queries).
"""

from __future__ import annotations

import hashlib
import json

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.crypto import constant_time_compare

from . import selectors, versions
from .models import Job

FIELDS = [field.attname for field in Job._meta.concrete_fields]


def entry_key(pk: int) -> str:
    return f"job:status:{pk}"


def auth_key(user_id) -> str:
    return f"user:authhash:{user_id}"


def respond(request, payload: dict) -> HttpResponse:
    """The payload as JSON with its ETag, or 304 when the client has it."""
    body = json.dumps(payload, cls=DjangoJSONEncoder).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    # Revalidate every time (the browser's fetch sends If-None-Match itself),
    # and never keep it in a shared cache.
    response["Cache-Control"] = "private, no-cache"
    return response


def from_cache(request, pk: int) -> HttpResponse | None:
    """The owner's answer from the cache, or None to go the ordinary way."""
    if not versions.enabled():
        return None
    user_id = request.session.get(SESSION_KEY)
    session_hash = request.session.get(HASH_SESSION_KEY)
    if user_id is None or not session_hash:
        return None
    found = cache.get_many([versions.key(pk), entry_key(pk), auth_key(user_id)])
    entry, token, auth_hash = found.get(entry_key(pk)), found.get(versions.key(pk)), found.get(auth_key(user_id))
    if entry is None or token is None or entry["token"] != token:
        return None
    if str(entry["row"]["user_id"]) != str(user_id) or not auth_hash:
        return None
    if not constant_time_compare(auth_hash, session_hash):
        return None
    row = entry["row"]
    job = Job.from_db("default", FIELDS, [row[name] for name in FIELDS])  # as if just read: no defaults computed
    return respond(request, selectors.status_payload(job))


def remember(job: Job, token: str | None, user) -> None:
    """File the row just read (under the token taken before reading it)."""
    if token is None or job.user_id != user.pk:
        return
    row = {name: getattr(job, name) for name in FIELDS}
    cache.set_many(
        {entry_key(job.pk): {"token": token, "row": row}, auth_key(user.pk): user.get_session_auth_hash()},
        versions.TTL,
    )


def user_saved(sender, instance, **kwargs) -> None:
    """A saved user may have a new password or be deactivated: their cached
    session hash goes, and the next check reads the user again."""
    if versions.enabled() and instance.pk:
        key = auth_key(instance.pk)
        # After the commit, or a check in between could file the old hash again.
        transaction.on_commit(lambda: cache.delete(key))
