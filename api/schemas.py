"""The API's JSON shapes; the OpenAPI schema is generated from these.

Choices come from the generate form, so the API offers exactly what the
pages offer. The form still checks every rule (combinations, images, the
blocklist): these types only describe the shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from ninja import Field, Schema

from videos.forms import GenerateForm


def _choices(field: str):
    """The generate form's choices for `field`, as a Literal type."""
    return Literal[tuple(value for value, _label in GenerateForm.base_fields[field].choices)]  # type: ignore[valid-type]


Model = _choices("model")
GenerationType = _choices("generation_type")
AspectRatio = _choices("aspect_ratio")
Resolution = _choices("resolution")


class VideoIn(Schema):
    prompt: str = Field(..., max_length=settings.PROMPT_MAX_LENGTH, description="What the video shows.")
    model: Model = "veo3_fast"
    generation_type: GenerationType = "TEXT_2_VIDEO"
    aspect_ratio: AspectRatio = "16:9"
    resolution: Resolution = Field("720p", description="720p, 1080p or 4k; the price follows model and resolution.")
    seed: int | None = Field(None, ge=10000, le=99999, description="The same prompt and seed give the same video.")
    enable_translation: bool = True
    watermark: str = Field("", max_length=100)
    image_urls: list[str] = Field(
        default_factory=list,
        max_length=3,
        description="https links: none for TEXT_2_VIDEO; first then last frame for "
        "FIRST_AND_LAST_FRAMES_2_VIDEO (1–2); REFERENCE_2_VIDEO takes 1–3 (veo3_fast only).",
    )


class VideoOut(Schema):
    id: int
    status: str = Field(..., description="queued, submitting, submitted, downloading, succeeded or failed.")
    progress: int = Field(..., description="An estimate in percent.")
    video_url: str | None = Field(None, description="Fetch with the same token; null until the video is stored.")
    error: str | None = None
    prompt: str
    model: str
    generation_type: str
    aspect_ratio: str
    resolution: str
    seed: int | None
    enable_translation: bool
    watermark: str
    image_urls: list[str]
    price_credits: int
    created_at: datetime
    finished_at: datetime | None


class VideoPage(Schema):
    items: list[VideoOut]
    count: int
    page: int
    pages: int
    next: str | None


class Balance(Schema):
    balance: int = Field(..., description="Credits.")


class PriceOut(Schema):
    code: str
    label: str
    credits: int


class PriceList(Schema):
    prices: list[PriceOut]


class ErrorBody(Schema):
    code: str
    message: str
    fields: list[dict] | None = None


class ErrorOut(Schema):
    error: ErrorBody


class WebhookIn(Schema):
    url: str = Field(..., max_length=2000, description='Public https URL; "" removes the webhook.')


class DeliveryOut(Schema):
    id: str = Field(..., description="The webhook-id header of the event.")
    type: str
    video_id: int | None
    state: str = Field(..., description="pending, delivered or failed (given up).")
    attempts: int
    last_status: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


class WebhookOut(Schema):
    url: str
    deliveries: list[DeliveryOut] = Field(..., description="The most recent, newest first.")
