"""Creating a video through the API: the JSON validated by the generate
form and created by videos.services.job_create, as the pages do (one set of
rules, caps, limits and charges); with an Idempotency-Key, at most once per
user and key."""

from __future__ import annotations

import re
from collections.abc import Callable

from veoproject.refusals import Refusal
from videos import services as video_services
from videos.forms import IMAGE_SLOTS, GenerateForm
from videos.models import Job

from . import services
from .errors import ApiError
from .schemas import VideoIn

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def _form_data(payload: VideoIn) -> dict:
    """The API's JSON as the generate form's fields."""
    data = {
        "prompt": payload.prompt,
        "model": payload.model,
        "generation_type": payload.generation_type,
        "aspect_ratio": payload.aspect_ratio,
        "resolution": payload.resolution,
        "seed": "" if payload.seed is None else str(payload.seed),
        "enable_translation": "on" if payload.enable_translation else "",
        "watermark": payload.watermark,
    }
    for slot, url in zip(IMAGE_SLOTS, payload.image_urls, strict=False):
        data[f"image_url_{slot}"] = url
    return data


def _api_field(name: str) -> str | None:
    if name == "__all__":
        return None
    match = re.fullmatch(r"image_url_(\d)", name)
    return f"image_urls.{int(match.group(1)) - 1}" if match else name


def video_create(*, user, payload: VideoIn) -> Job:
    """Validate with the generate form and create through the pages' service.
    Raises ApiError (nothing written)."""
    form = GenerateForm(_form_data(payload))
    if not form.is_valid():
        fields = [
            {"field": _api_field(name), "message": error["message"]}
            for name, field_errors in form.errors.get_json_data().items()
            for error in field_errors
        ]
        raise ApiError(422, "invalid", fields[0]["message"], fields=fields)
    try:
        return video_services.job_create(user=user, request=form.video_request())
    except Refusal as exc:
        # The refusal's own status and code, as the pages' JSON answers
        # (402 credits, 429 limits, caps and a paused service, 503 no price);
        # a client told to wait is always told how long.
        wait = exc.retry_after or (60 if exc.status in (429, 503) else None)
        raise ApiError(exc.status, exc.code, exc.message, retry_after=wait) from exc


def video_create_once(*, user, payload: VideoIn, key: str, render: Callable[[Job], dict]) -> tuple[int, dict, bool]:
    """(status, body, replayed) for a create with an Idempotency-Key.

    The first request with a key does the work and keeps its answer (`render`
    of the new video, or a 422 that the same body would always get); the same
    key and body later get that answer again, while it runs a 409, with
    another body a 422. A refusal for now (credits, limits) frees the key so
    the same request may be retried. Raises ApiError."""
    if not KEY_PATTERN.match(key):
        raise ApiError(422, "invalid", "Idempotency-Key must be 1–255 visible ASCII characters.")
    claim = services.idempotency_claim(user=user, key=key, digest=services.body_digest(payload.model_dump(mode="json")))
    if claim.conflict == "other_body":
        raise ApiError(422, "idempotency_key_reused", "This Idempotency-Key was used with another request body.")
    if claim.conflict == "in_progress":
        raise ApiError(
            409, "idempotency_key_in_progress", "A request with this Idempotency-Key is still running.", retry_after=1
        )
    if claim.replay is not None:
        status, body = claim.replay
        return status, body, True
    try:
        job = video_create(user=user, payload=payload)
    except ApiError as exc:
        if exc.status == 422:  # the same body will always be invalid: keep the answer
            services.idempotency_finish(claim.row, status=422, body=exc.body())
        else:
            services.idempotency_release(claim.row)
        raise
    except BaseException:
        services.idempotency_release(claim.row)
        raise
    body = render(job)
    services.idempotency_finish(claim.row, status=201, body=body, job_id=job.pk)
    return 201, body, False
