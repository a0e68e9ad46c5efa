"""The JSON API under /api/v1/ (django-ninja: the OpenAPI schema at
/api/v1/openapi.json and the docs page at /api/v1/docs come from the same
declarations).

Creating a video goes through the generate form and videos.services.job_create,
exactly as the pages do (api/create.py): one set of rules, caps, limits and
charges.
"""

from __future__ import annotations

import math
from typing import Literal

from django.conf import settings
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from ninja import Header, NinjaAPI, Query
from ninja.openapi.docs import Swagger

from billing.selectors import balance_of, price_table
from videos import selectors as video_selectors
from videos import storage
from videos.models import Job, Upgrade

from . import create, errors, services
from .auth import TokenAuth, require_write
from .errors import ApiError
from .models import WebhookDelivery
from .outbound import UrlRefused
from .schemas import Balance, ErrorOut, PriceList, VideoIn, VideoOut, VideoPage, WebhookIn, WebhookOut

api = NinjaAPI(
    title="Veo Studio API",
    version="1",
    description=(
        "Make videos with Google Veo from your own code. Authenticate with a personal token "
        "(`Authorization: Bearer veo_...`, made at /account/). Errors are "
        '`{"error": {"code": "...", "message": "..."}}`.'
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    docs=Swagger(),  # served from ninja's own static files: no CDN
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)

ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def file_url(request: HttpRequest | None, job: Job) -> str | None:
    """Where the token holder fetches the stored video (absolute)."""
    if video_selectors.video_url(job) is None:
        return None
    path = reverse("api:video_file", kwargs={"video_id": job.pk})
    if request is None:
        return settings.PUBLIC_BASE_URL + path
    return request.build_absolute_uri(path)


def _when(value) -> str | None:
    """Datetimes as the schema's own responses write them (ISO 8601, ms, Z),
    so a stored idempotent answer reads the same as a fresh one."""
    return DjangoJSONEncoder().default(value) if value else None


def _image_urls(request: HttpRequest | None, job: Job) -> list[str]:
    """The links given, or where an uploaded image is served."""
    if job.generation_type == "TEXT_2_VIDEO":  # takes no images: no query for them
        return []
    urls = []
    for image in job.images.all():
        if image.source_url:
            urls.append(image.source_url)
        else:
            path = reverse("videos:input_image", args=[image.token])
            urls.append(request.build_absolute_uri(path) if request else settings.PUBLIC_BASE_URL + path)
    return urls


def video_json(request: HttpRequest | None, job: Job) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "progress": video_selectors.progress(job),
        "video_url": file_url(request, job),
        "error": job.error_message or None,
        "prompt": job.prompt,
        "model": job.model,
        "generation_type": job.generation_type,
        "aspect_ratio": job.aspect_ratio,
        "seed": job.seed,
        "enable_translation": job.enable_translation,
        "watermark": job.watermark,
        "image_urls": _image_urls(request, job),
        "price_credits": job.price_credits,
        "created_at": _when(job.created_at),
        "finished_at": _when(job.finished_at),
    }


@api.post(
    "/videos",
    response={201: VideoOut, 402: ErrorOut, 403: ErrorOut, 409: ErrorOut, 503: ErrorOut, **ERRORS},
    url_name="videos",
    summary="Make a video",
)
def video_create(
    request,
    payload: VideoIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="Any string up to 255 characters: the same key and body within 24 h return the first answer "
        "and charge once; another body is a 422; while the first is running, a 409.",
    ),
):
    """Charged at once (the same price, caps and limits as the pages); refunded
    if the video fails. The answer is the queued video; poll it, or set a
    webhook at /account/."""
    require_write(request)
    if idempotency_key is None:
        job = create.video_create(user=request.user, payload=payload)
        return JsonResponse(video_json(request, job), status=201)
    status, body, replayed = create.video_create_once(
        user=request.user, payload=payload, key=idempotency_key, render=lambda job: video_json(request, job)
    )
    response = JsonResponse(body, status=status)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@api.get("/videos", response={200: VideoPage, **ERRORS}, url_name="video_list", summary="Your videos, newest first")
def video_list(
    request,
    page: int = Query(1, ge=1, le=1_000_000),
    page_size: int = Query(20, ge=1, le=100),
):
    jobs = video_selectors.jobs_of(request.user).prefetch_related("images")
    paginator = Paginator(jobs, page_size)
    count = paginator.count
    pages = max(1, math.ceil(count / page_size))
    items = [video_json(request, job) for job in paginator.page(page)] if page <= pages else []
    next_url = None
    if page < pages:
        next_url = request.build_absolute_uri(f"{reverse('api:video_list')}?page={page + 1}&page_size={page_size}")
    return {"items": items, "count": count, "page": page, "pages": pages, "next": next_url}


def _own_job(request, video_id: int) -> Job:
    job = video_selectors.jobs_of(request.user).filter(pk=video_id).first()
    if job is None:
        raise Http404
    return job


@api.get("/videos/{video_id}", response={200: VideoOut, **ERRORS}, url_name="video", summary="One video")
def video_get(request, video_id: int):
    return video_json(request, _own_job(request, video_id))


@api.get(
    "/videos/{video_id}/file",
    response={200: None, **ERRORS},
    url_name="video_file",
    summary="The video file (mp4, Range supported)",
)
def video_file(
    request,
    video_id: int,
    quality: Literal["1080p"] | None = Query(None, description="1080p: the upgraded file, once ready."),
):
    job = _own_job(request, video_id)
    if quality:
        upgrade = job.upgrades.filter(kind=quality, status=Upgrade.Status.SUCCEEDED).exclude(file="").first()
        if upgrade is None:
            raise ApiError(404, "not_ready", f"The {quality} version is not ready.")
        return _serve(request, upgrade.file, filename=f"veo-{job.pk}-{upgrade.kind}.mp4")
    if job.status != Job.Status.SUCCEEDED or not job.video_file:
        raise ApiError(404, "not_ready", "This video is not ready.")
    return _serve(request, job.video_file, filename=f"veo-{job.pk}.mp4")


def _serve(request, file, *, filename: str):
    """The stored file the way the pages serve it (one place to follow them:
    object storage redirects, X-Accel-Redirect)."""
    return storage.serve(request, file.name, content_type="video/mp4", filename=filename)


@api.get("/balance", response={200: Balance, **ERRORS}, url_name="balance", summary="Your credits")
def balance(request):
    return {"balance": balance_of(request.user.pk)}


@api.get("/prices", response={200: PriceList, **ERRORS}, url_name="prices", summary="What things cost, in credits")
def prices(request):
    return {
        "prices": [{"code": p.code, "label": p.label, "credits": p.credits} for p in price_table().values()],
    }


def _webhook_json(user) -> dict:
    endpoint = services.webhook_of(user)
    deliveries = WebhookDelivery.objects.filter(user=user)[:30]
    return {
        "url": endpoint.url,
        "deliveries": [
            {
                "id": d.msg_id,
                "type": d.event_type,
                "video_id": (d.payload.get("data") or {}).get("id"),
                "state": d.state,
                "attempts": d.attempts,
                "last_status": d.last_status,
                "last_error": d.last_error,
                "created_at": d.created_at,
                "delivered_at": d.delivered_at,
            }
            for d in deliveries
        ],
    }


@api.get("/webhook", response={200: WebhookOut, **ERRORS}, url_name="webhook", summary="Your webhook and its log")
def webhook_get(request):
    """The signing secret is shown only at /account/."""
    return _webhook_json(request.user)


@api.put("/webhook", response={200: WebhookOut, 403: ErrorOut, **ERRORS}, summary="Set or remove your webhook")
def webhook_put(request, payload: WebhookIn):
    require_write(request)
    try:
        services.webhook_set_url(user=request.user, url=payload.url)
    except UrlRefused as exc:
        raise ApiError(422, "invalid", str(exc), fields=[{"field": "url", "message": str(exc)}]) from exc
    return _webhook_json(request.user)
