"""What a person can ask for: the one vocabulary of a video request.

The choices are defined here once and used by the forms, the models'
`choices=`, the admin filters, the provider client and the simulator. A
request is one frozen `VideoRequest`, built by the generate form and the
batch page (and the API), stored as a job, and rebuilt from the job for the
provider client, so every layer speaks of the same fields.

Adding an option the provider sells is one line here, plus its price rows
and whatever rule the form must check.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.utils.translation import gettext_lazy as _


class VideoModel(models.TextChoices):
    # Names as people say them (the provider's current names): shown on every page.
    VEO3_FAST = "veo3_fast", _("Veo 3.1 Fast")
    VEO3 = "veo3", _("Veo 3.1 Quality")
    VEO3_LITE = "veo3_lite", _("Veo 3.1 Lite")


# The extend endpoint names the models by their short names.
EXTEND_MODEL_NAMES = {VideoModel.VEO3_FAST: "fast", VideoModel.VEO3: "quality", VideoModel.VEO3_LITE: "lite"}
# Reference images work with these models only (the provider's docs: Fast; its Chinese page: Fast and Lite).
REFERENCE_MODELS = (VideoModel.VEO3_FAST, VideoModel.VEO3_LITE)


class GenerationType(models.TextChoices):
    TEXT = "TEXT_2_VIDEO", _("Text to video")
    FRAMES = "FIRST_AND_LAST_FRAMES_2_VIDEO", _("First and last frames")
    REFERENCE = "REFERENCE_2_VIDEO", _("Reference images")


class AspectRatio(models.TextChoices):
    LANDSCAPE = "16:9", _("16:9 landscape")
    PORTRAIT = "9:16", _("9:16 portrait")
    AUTO = "Auto", _("Auto")


class Resolution(models.TextChoices):
    """What the provider renders at generate time, and what an upgrade makes."""

    P720 = "720p", "720p"
    P1080 = "1080p", "1080p"
    UHD_4K = "4k", "4K"


@dataclass(frozen=True)
class ImageInput:
    """One input image: an upload (from the form) or an https link."""

    upload: UploadedFile | None = None
    url: str = ""
    content_type: str = ""


@dataclass(frozen=True)
class VideoRequest:
    """One request for a video, exactly as the provider will receive it.

    `resolution` is what the provider renders at generate (and what the
    price row is chosen by); 720p is the provider's default.
    """

    prompt: str
    model: str = VideoModel.VEO3_FAST
    generation_type: str = GenerationType.TEXT
    aspect_ratio: str = AspectRatio.LANDSCAPE
    seed: int | None = None
    enable_translation: bool = True
    watermark: str = ""
    images: tuple[ImageInput, ...] = field(default=())
    resolution: str = Resolution.P720

    @classmethod
    def from_cleaned(cls, data: dict) -> VideoRequest:
        """From a valid form's cleaned_data (the generate form, a batch line)."""
        names = {f.name for f in fields(cls)} - {"images"}
        return cls(**{name: data[name] for name in names if name in data}, images=tuple(data.get("images") or ()))

    @property
    def image_urls(self) -> tuple[str, ...]:
        return tuple(image.url for image in self.images if image.url)

    def stored_fields(self) -> dict:
        """The request's fields as a job stores them (all but the images,
        which are rows of their own)."""
        return {name: getattr(self, name) for name in REQUEST_FIELDS}


# The fields that make two requests identical (reuse compares them) and that
# a job stores in columns of the same names.
REQUEST_FIELDS = (
    "prompt",
    "model",
    "generation_type",
    "aspect_ratio",
    "seed",
    "enable_translation",
    "watermark",
    "resolution",
)
