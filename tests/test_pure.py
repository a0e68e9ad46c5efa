"""Fast unit tests of the pure functions: no database, no server.

The progress estimate, HTTP range parsing, the dashboard's SVG charts, the
request vocabulary and the provider body it becomes, and how a refusal
reaches a person.
"""

import json
from datetime import timedelta

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from django.utils import timezone

from billing.exceptions import CapReached, InsufficientCredits, RateLimited, SubmissionsPaused, UnknownPrice
from veoproject import refusals
from videos.dashboard import svg_bars, svg_line
from videos.exceptions import UpgradeNotAvailable
from videos.kie import generate_body
from videos.models import Job
from videos.ranges import parse_range
from videos.selectors import progress
from videos.vocabulary import AspectRatio, GenerationType, ImageInput, Resolution, VideoModel, VideoRequest

S = Job.Status

# --- progress estimate -------------------------------------------------------


@pytest.fixture
def typical(settings):
    settings.VEO_TYPICAL_SECONDS = {"veo3_fast": 100, "veo3": 200}


def job_at(status, *, elapsed=None, model="veo3_fast"):
    now = timezone.now()
    submitted = now - timedelta(seconds=elapsed) if elapsed is not None else None
    return Job(status=status, model=model, submitted_at=submitted), now


@pytest.mark.parametrize(
    ("status", "expected"),
    [(S.QUEUED, 2), (S.SUBMITTING, 2), (S.DOWNLOADING, 95), (S.SUCCEEDED, 100), (S.FAILED, 100)],
)
def test_progress_by_status(typical, status, expected):
    job, now = job_at(status, elapsed=50)
    assert progress(job, now) == expected


def test_progress_is_linear_to_ninety_at_the_typical_time(typical):
    assert [progress(*job_at(S.SUBMITTED, elapsed=e)) for e in (0, 50, 100)] == [3, 45, 90]
    assert progress(*job_at(S.SUBMITTED, elapsed=100, model="veo3")) == 45  # quality takes twice as long


def test_progress_creeps_but_never_claims_done(typical):
    assert progress(*job_at(S.SUBMITTED, elapsed=150)) == 92
    assert progress(*job_at(S.SUBMITTED, elapsed=10_000)) == 94


def test_progress_without_a_submit_time_is_the_start(typical):
    assert progress(*job_at(S.SUBMITTED)) == 2


# --- HTTP ranges -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the file is the whole file
        ("bytes=900-5000", (900, 999)),  # an end past the file is clipped
        (" bytes=0-0 ", (0, 0)),
        ("bytes=1000-", "unsatisfiable"),
        ("bytes=50-10", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=-", None),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 1000) == expected


# --- dashboard charts --------------------------------------------------------


def test_bar_chart_scales_to_the_largest_value_and_escapes_labels():
    svg = str(svg_bars([("<b>", 0), ("Tue", 50), ("Wed", 100)]))
    assert svg.startswith("<svg") and svg.count("<rect") == 3
    assert 'height="112.0"' in svg and 'height="56.0"' in svg and 'height="0.0"' in svg  # 160 - 2 × 24 = 112
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "Tue: 50" in svg and ">100</text>" in svg


def test_bar_chart_of_nothing_draws_flat_bars():
    svg = str(svg_bars([("Mon", 0), ("Tue", 0)]))
    assert svg.count('height="0.0"') == 2


def test_line_chart_spans_lowest_to_highest():
    svg = str(svg_line([5000, 4000, 3000]))
    assert 'points="24.0,24.0 292.0,80.0 560.0,136.0"' in svg
    assert ">5000</text>" in svg and ">3000</text>" in svg


def test_line_chart_of_a_flat_balance_does_not_divide_by_zero():
    assert "<polyline" in str(svg_line([100, 100]))


# --- the request vocabulary ----------------------------------------------------


def test_choices_are_the_providers_words():
    assert VideoModel.values == ["veo3_fast", "veo3", "veo3_lite"]
    assert GenerationType.values == ["TEXT_2_VIDEO", "FIRST_AND_LAST_FRAMES_2_VIDEO", "REFERENCE_2_VIDEO"]
    assert AspectRatio.values == ["16:9", "9:16", "Auto"]
    assert Resolution.values == ["720p", "1080p", "4k"]


def test_a_request_is_built_from_cleaned_form_data_and_frozen():
    image = ImageInput(url="https://example.com/a.png")
    data = {"prompt": "p", "model": "veo3", "seed": 12345, "images": [image], "image_url_1": "ignored"}
    request = VideoRequest.from_cleaned(data)
    assert request == VideoRequest(prompt="p", model="veo3", seed=12345, images=(image,))
    assert request.image_urls == ("https://example.com/a.png",)
    with pytest.raises(AttributeError):
        request.prompt = "other"  # type: ignore[misc]


def test_the_provider_body_sends_optional_fields_only_when_set():
    minimal = generate_body(VideoRequest(prompt="p"))
    assert minimal == {
        "prompt": "p",
        "model": "veo3_fast",
        "generationType": "TEXT_2_VIDEO",
        "aspectRatio": "16:9",
        "aspect_ratio": "16:9",
        "enableTranslation": True,
        # Always sent: what we priced must be what the provider renders,
        # whatever its default becomes.
        "resolution": "720p",
    }
    full = generate_body(VideoRequest(prompt="p", seed=12345, watermark="W", resolution="1080p"), callback_url="u")
    assert (full["seeds"], full["watermark"], full["resolution"], full["callBackUrl"]) == (12345, "W", "1080p", "u")


# --- refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "code", "status"),
    [
        (InsufficientCredits(needed=10, available=3), "insufficient_credits", 402),
        (RateLimited("slow down", retry_after=12), "rate_limited", 429),
        (CapReached("cap"), "cap_reached", 429),
        (SubmissionsPaused("paused"), "paused", 429),
        (UnknownPrice("no price"), "unknown_price", 503),
        (UpgradeNotAvailable("no"), "upgrade_not_available", 409),
    ],
)
def test_every_refusal_has_a_stable_code_and_status(refusal, code, status):
    assert (refusal.code, refusal.status) == (code, status)
    assert refusal.message and str(refusal) == refusal.message


def test_a_refusal_as_json_for_pages_and_for_the_api():
    refusal = RateLimited("Wait 12 seconds.", retry_after=12)
    page = refusals.as_json(refusal)
    assert page.status_code == 429 and page["Retry-After"] == "12"
    assert json.loads(page.content) == {"error": "Wait 12 seconds."}
    api = refusals.as_json(refusal, nested=True)
    assert json.loads(api.content) == {"error": {"code": "rate_limited", "message": "Wait 12 seconds."}}
    assert not refusals.as_json(CapReached("cap")).has_header("Retry-After")


def test_a_refusal_as_a_form_error():
    form = forms.Form(data={})
    form.is_valid()
    refusals.as_form_error(form, InsufficientCredits(needed=10, available=3))
    assert form.non_field_errors() == ["This needs 10 credits and you have 3."]


def test_a_refusal_as_a_message():
    request = RequestFactory().get("/")
    request.session = {}
    request._messages = FallbackStorage(request)
    refusals.as_message(request, UpgradeNotAvailable("Only finished 16:9 videos can be upgraded to 1080p."))
    assert [m.message for m in get_messages(request)] == ["Only finished 16:9 videos can be upgraded to 1080p."]
