"""The generate form: every rule of a valid request, with plain messages.

Anything this form accepts is a request the provider's docs accept, so an
invalid combination never costs credits or a provider call.
"""

import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from untrusted import urlpolicy

from . import stash
from .imagelinks import ImageLinkError, check_image_link, image_link_policy
from .vocabulary import REFERENCE_MODELS, AspectRatio, GenerationType, ImageInput, Resolution, VideoModel, VideoRequest

IMAGE_SLOTS = (1, 2, 3)
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}

# How many images each type takes (the form shows that many slots).
IMAGE_LIMITS = {GenerationType.TEXT: 0, GenerationType.FRAMES: 2, GenerationType.REFERENCE: 3}
MODEL_CHOICES = VideoModel.choices


def blocked_terms(prompt: str) -> list[str]:
    """The blocklist's words and phrases found in `prompt`, as whole words."""
    text = prompt.lower()
    return [term for term in settings.PROMPT_BLOCKLIST if re.search(rf"\b{re.escape(term.lower())}\b", text)]


def _public_https_url(value: str) -> str:
    """An image link the provider will fetch: the project's one untrusted-URL
    policy (untrusted.urlpolicy, image rules: https, a public host, no
    credentials, no parser tricks or odd address spellings). Hosts listed in
    IMAGE_LINK_PRIVATE_HOSTS (tests: a loopback image server) may be private
    and plain http."""
    try:
        parts = urlsplit(value)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    except ValueError:
        scheme, host = "", ""
    if scheme != "https" and host not in settings.IMAGE_LINK_PRIVATE_HOSTS:
        raise forms.ValidationError(_("Image links must start with https:// so the provider can fetch them."))
    try:
        urlpolicy.check(value, image_link_policy())
    except urlpolicy.UrlRefused:
        raise forms.ValidationError(_("Image links must point at a public web address.")) from None
    return value


class ErrorSummary:
    """Every error of a form as (anchor id, message), in page order, for
    the summary at the top of the page (templates/videos/_error_summary.html)."""

    def error_summary(self) -> list[tuple[str, str]]:
        rows = [("", str(e)) for e in self.non_field_errors()]
        for name in self.fields:
            for error in self.errors.get(name, []):
                rows.append((self[name].id_for_label or "", f"{self[name].label}: {error}"))
        return rows


class GenerateForm(ErrorSummary, forms.Form):
    model = forms.ChoiceField(choices=VideoModel.choices, initial=VideoModel.VEO3_FAST, label=gettext_lazy("Model"))
    generation_type = forms.ChoiceField(
        choices=GenerationType.choices, initial=GenerationType.TEXT, label=gettext_lazy("Type")
    )
    aspect_ratio = forms.ChoiceField(
        choices=AspectRatio.choices, initial=AspectRatio.LANDSCAPE, label=gettext_lazy("Aspect ratio")
    )
    # Optional in the data (720p when absent, as the provider defaults) so
    # older clients keep working; the form shows it with 720p chosen.
    resolution = forms.ChoiceField(
        choices=Resolution.choices, initial=Resolution.P720, required=False, label=gettext_lazy("Resolution")
    )
    seed = forms.IntegerField(
        required=False,
        min_value=10000,
        max_value=99999,
        label=gettext_lazy("Seed"),
        help_text=gettext_lazy("Optional, 10000–99999. The same prompt and seed give the same video."),
        error_messages={
            "min_value": gettext_lazy("The seed must be between 10000 and 99999."),
            "max_value": gettext_lazy("The seed must be between 10000 and 99999."),
            "invalid": gettext_lazy("The seed must be a whole number between 10000 and 99999."),
        },
    )
    enable_translation = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Translate my prompt to English")
    )
    watermark = forms.CharField(
        required=False,
        max_length=100,
        label=gettext_lazy("Watermark"),
        help_text=gettext_lazy("Optional text watermark."),
    )

    def __init__(self, *args, session=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # Where uploads that were fine are kept when the form comes back
        # with errors (see videos/stash.py); None: nothing is kept.
        self.session = session
        self.kept: dict[int, str] = {}
        limit = settings.PROMPT_MAX_LENGTH
        self.fields["prompt"] = forms.CharField(
            max_length=limit,
            label=_("Prompt"),
            widget=forms.Textarea(
                attrs={"rows": 5, "placeholder": _("A slow dolly shot through a misty forest at dawn…")}
            ),
            error_messages={
                "required": _("Describe the video you want."),
                "max_length": _("Keep the prompt under %(limit)s characters.") % {"limit": limit},
            },
        )
        self.order_fields(["prompt"])
        for slot in IMAGE_SLOTS:
            self.fields[f"image_url_{slot}"] = forms.URLField(
                required=False,
                max_length=2000,
                assume_scheme="https",
                label=_("Image %(n)s link") % {"n": slot},
                validators=[_public_https_url],
                error_messages={"invalid": _("Image %(n)s link is not a valid web address.") % {"n": slot}},
            )
            self.fields[f"image_{slot}"] = forms.ImageField(
                required=False,
                label=_("Image %(n)s upload") % {"n": slot},
                widget=forms.ClearableFileInput(attrs={"accept": ",".join(sorted(IMAGE_TYPES))}),
                error_messages={
                    "invalid_image": _("Image %(n)s is not a picture we can read (use JPEG, PNG or WebP).")
                    % {"n": slot}
                },
            )
            self.fields[f"image_kept_{slot}"] = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_prompt(self) -> str:
        prompt = self.cleaned_data["prompt"]
        blocked = blocked_terms(prompt)
        if blocked:
            raise forms.ValidationError(
                _("This prompt breaks our content rules (%(terms)s). Please describe something else.")
                % {"terms": ", ".join(blocked)}
            )
        return prompt

    def clean_resolution(self) -> str:
        return self.cleaned_data.get("resolution") or Resolution.P720

    def image_slots(self):
        """(slot, upload, link, kept token) per image slot, for the template."""
        return [
            (slot, self[f"image_{slot}"], self[f"image_url_{slot}"], self.kept.get(slot, "")) for slot in IMAGE_SLOTS
        ]

    def keep_uploads(self) -> None:
        """After a failed submission: keep the uploads that were fine, so
        the page can show them and the next post can use them."""
        if self.session is None:
            return
        for slot in IMAGE_SLOTS:
            upload = self.cleaned_data.get(f"image_{slot}") if hasattr(self, "cleaned_data") else None
            if upload and not self.has_error(f"image_{slot}") and hasattr(upload, "content_type"):
                self.kept[slot] = stash.stash_put(self.session, upload)
            elif self.data.get(f"image_kept_{slot}") and stash.stash_get(self.session, self.data[f"image_kept_{slot}"]):
                self.kept[slot] = self.data[f"image_kept_{slot}"]

    def _kept_token(self, slot: int) -> str:
        """The slot's kept-upload token if it is this session's, else ""."""
        token = self.data.get(f"image_kept_{slot}", "")
        return token if token and self.session is not None and stash.stash_get(self.session, token) else ""

    def kept_tokens(self) -> list[str]:
        return [self.data.get(f"image_kept_{slot}", "") for slot in IMAGE_SLOTS if self.data.get(f"image_kept_{slot}")]

    def _clean_upload(self, slot: int):
        upload = self.cleaned_data.get(f"image_{slot}")
        if not upload and self.session is not None:
            # A kept upload from the failed submission before (already checked).
            return stash.stash_open(self.session, self.cleaned_data.get(f"image_kept_{slot}", ""))
        if not upload:
            return None
        if upload.size > settings.UPLOAD_MAX_BYTES:
            mb = settings.UPLOAD_MAX_BYTES // (1024 * 1024)
            raise forms.ValidationError(_("Image %(n)s is larger than %(mb)s MB.") % {"n": slot, "mb": mb})
        if getattr(upload, "content_type", None) not in IMAGE_TYPES:
            raise forms.ValidationError(_("Image %(n)s must be a JPEG, PNG or WebP picture.") % {"n": slot})
        return upload

    def clean(self):
        data = super().clean()
        images: list[ImageInput] = []
        gap_at = None
        for slot in IMAGE_SLOTS:
            try:
                upload = self._clean_upload(slot)
            except forms.ValidationError as exc:
                self.add_error(f"image_{slot}", exc)
                continue
            url = data.get(f"image_url_{slot}") or ""
            if upload and url:
                self.add_error(f"image_{slot}", _("Give image %(n)s as an upload or a link, not both.") % {"n": slot})
                continue
            if not upload and not url:
                gap_at = gap_at or slot
                continue
            if gap_at:
                self.add_error(
                    None,
                    _("Image %(n)s is set but image %(gap)s is empty; fill the image slots in order.")
                    % {"n": slot, "gap": gap_at},
                )
            images.append(ImageInput(upload=upload, url=url, content_type=getattr(upload, "content_type", "") or ""))

        # Checked even when other fields failed, so every error shows at once;
        # a slot that was filled in but failed its own check still counts.
        given = sum(
            1
            for slot in IMAGE_SLOTS
            if self.files.get(f"image_{slot}") or self.data.get(f"image_url_{slot}") or self._kept_token(slot)
        )
        kind, count = data.get("generation_type"), max(len(images), given)
        if kind == GenerationType.TEXT and count:
            self.add_error("generation_type", _("Text to video takes no images. Remove them or choose another type."))
        elif kind == GenerationType.FRAMES and not 1 <= count <= 2:
            self.add_error(
                "generation_type", _("First and last frames needs one or two images: the first frame, then the last.")
            )
        elif kind == GenerationType.REFERENCE:
            if not 1 <= count <= 3:
                self.add_error("generation_type", _("Reference images needs one to three images."))
            if data.get("model") not in REFERENCE_MODELS:
                self.add_error("model", _("Reference images works only with the Veo 3.1 Fast and Lite models."))
        if not self.errors:
            self._check_links(images)
        data["images"] = images
        return data

    def _check_links(self, images: list[ImageInput]) -> None:
        """Fetch each link once (videos.imagelinks) so that a dead, private
        or non-image link is an error here, before any charge."""
        for slot, image in enumerate(images, start=1):
            if image.url:
                try:
                    check_image_link(image.url)
                except ImageLinkError as exc:
                    self.add_error(f"image_url_{slot}", _("Image %(n)s: %(why)s") % {"n": slot, "why": exc})

    def video_request(self) -> VideoRequest:
        """The valid form as the one request value the services take."""
        return VideoRequest.from_cleaned(self.cleaned_data)


class ExtendForm(forms.Form):
    """What happens next in a finished video: a prompt, and optionally a seed
    and the model (the provider extends with Fast, Quality or Lite; without
    one, the video's own model)."""

    model = forms.ChoiceField(
        choices=VideoModel.choices, initial=VideoModel.VEO3_FAST, required=False, label=gettext_lazy("Model")
    )
    seed = forms.IntegerField(
        required=False,
        min_value=10000,
        max_value=99999,
        label=gettext_lazy("Seed"),
        error_messages={
            "min_value": gettext_lazy("The seed must be between 10000 and 99999."),
            "max_value": gettext_lazy("The seed must be between 10000 and 99999."),
            "invalid": gettext_lazy("The seed must be a whole number between 10000 and 99999."),
        },
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        limit = settings.PROMPT_MAX_LENGTH
        self.fields["prompt"] = forms.CharField(
            max_length=limit,
            label=_("What happens next"),
            widget=forms.Textarea(attrs={"rows": 3}),
            error_messages={
                "required": _("Describe what happens next in the video."),
                "max_length": _("Keep the prompt under %(limit)s characters.") % {"limit": limit},
            },
        )
        self.order_fields(["prompt"])

    def clean_prompt(self) -> str:
        return GenerateForm.clean_prompt(self)


BATCH_MAX_LINES = 20


class BatchForm(ErrorSummary, forms.Form):
    """Several prompts, one per line; every other setting is shared and
    checked per line by GenerateForm."""

    prompts = forms.CharField(
        label=gettext_lazy("Prompts"),
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": gettext_lazy("One prompt per line")}),
        error_messages={"required": gettext_lazy("Write at least one prompt, one per line.")},
    )

    def clean_prompts(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["prompts"].splitlines() if line.strip()]
        if not lines:
            raise forms.ValidationError(_("Write at least one prompt, one per line."))
        if len(lines) > BATCH_MAX_LINES:
            raise forms.ValidationError(_("At most %(n)s prompts at once.") % {"n": BATCH_MAX_LINES})
        return lines

    def line_forms(self, data) -> list[tuple[int, str, GenerateForm]]:
        """One GenerateForm per prompt, with the shared settings of `data`."""
        forms_ = []
        for number, prompt in enumerate(self.cleaned_data["prompts"], start=1):
            line = data.copy()
            line["prompt"] = prompt
            forms_.append((number, prompt, GenerateForm(line)))
        return forms_
