"""People's words: what the pages show for the app's internal codes and
stored facts, rendered in the reader's language at display time.

Codes (`veo3_fast`, `FIRST_AND_LAST_FRAMES_2_VIDEO`, ledger references such
as `job:42`) are stored; names are looked up here when a page is drawn, so a
Chinese reader sees Chinese names for a row written while the page was in
English. Unknown codes (a model added by an operator, a ledger kind from a
newer branch) fall back to the stored label rather than failing.
"""

import re
from functools import lru_cache

from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from .models import Upgrade
from .vocabulary import GenerationType, VideoModel

# The vocabulary's labels are the names; a model not on sale yet keeps a
# name here so old rows and price rows still read well.
MODEL_NAMES = {"veo3_lite": _("Veo 3.1 Lite"), **dict(VideoModel.choices)}
TYPE_NAMES = dict(GenerationType.choices)
# Price rows that are not models: upgrades and resolutions.
PRICE_NAMES = {
    **MODEL_NAMES,
    "1080p": _("1080p upgrade"),
    "4k": _("4K upgrade"),
    "extend": _("Extend a video"),
}


def model_name(code: str) -> str:
    return str(MODEL_NAMES.get(code, code))


def type_name(code: str) -> str:
    return str(TYPE_NAMES.get(code, code))


def price_name(code: str, label: str = "") -> str:
    """A price row's name: ours for known codes, else the operator's label."""
    name = PRICE_NAMES.get(code)
    return str(name) if name is not None else (label or code)


# --- ledger ------------------------------------------------------------------

_REFERENCE = re.compile(r"^(?P<prefix>[a-z0-9_]+):(?P<id>\d+)(?::(?P<round>\d+))?$")


def ledger_description(entry) -> str:
    """What a ledger row was for, from its kind and reference (the stored
    parameters); the free-text reason only for operators' own words."""
    match = _REFERENCE.match(entry.reference or "")
    kind = entry.kind
    prefix, number = (match["prefix"], int(match["id"])) if match else ("", None)
    if getattr(entry, "actor_id", None):
        # Operators' own words and names stay in the admin.
        return gettext("Operator adjustment")
    if kind == "signup":
        return gettext("Welcome credits")
    if kind == "redeem":  # the reason is "Code <code>", written by billing.redeem
        return gettext("Redeem code %(code)s") % {"code": (entry.reason or "").removeprefix("Code ").strip()}
    if prefix == "job" and kind == "charge":
        return gettext("Video #%(id)s") % {"id": number}
    if prefix == "job" and kind == "refund":
        return gettext("Video #%(id)s failed: credits returned") % {"id": number}
    if prefix == "hd" and kind == "charge":
        return gettext("1080p upgrade of video #%(id)s") % {"id": number}
    if prefix == "hd" and kind == "refund":
        return gettext("1080p upgrade of video #%(id)s failed: credits returned") % {"id": number}
    if (entry.reference or "").startswith("upgrade:") and kind in ("charge", "refund"):
        return _upgrade_description(entry)
    label = entry.get_kind_display()
    # Grants and adjustments carry the operator's own words.
    return f"{label} · {entry.reason}" if entry.reason and kind in ("grant", "adjust") else str(label)


def _upgrade_description(entry) -> str:
    """An upgrade's charge or refund: its reference names the Upgrade row,
    which knows the video and the kind."""
    row = Upgrade.objects.filter(reference=entry.reference).values_list("job_id", "kind").first()
    if row is None:
        return str(entry.get_kind_display())
    job_id, kind = row
    if entry.kind == "refund":
        return gettext("%(kind)s upgrade of video #%(id)s failed: credits returned") % {"kind": kind, "id": job_id}
    return gettext("%(kind)s upgrade of video #%(id)s") % {"kind": kind, "id": job_id}


# --- provider and job errors -------------------------------------------------

# The provider's common messages (its own English words), as people read them.
PROVIDER_MESSAGES = {
    "Generation failed": _("The generation failed."),
    "Generation failed.": _("The generation failed."),
    "The generation failed (simulated).": _("The generation failed (simulated)."),  # the built-in simulator
    "Insufficient credits": _("The service has run out of credit."),
    "Validation error": _("The request was not valid."),
    "Server error": _("The video service had an internal error."),
    "Service unavailable: maintenance": _("The video service is down for maintenance."),
    "Rate limited: too many requests": _("The video service is too busy."),
    "Feature disabled": _("This feature is switched off at the video service."),
    "You do not have access permissions": _("The video service refused access."),
    "Your prompt was flagged by Website as violating content policies.": _(
        "The prompt was flagged as breaking the content rules."
    ),
    "The 4K version of this video is unavailable": _("The 4K version of this video is unavailable."),
}
_FLAGGED = re.compile(r"flagged.*content polic", re.IGNORECASE)

# Reasons the app writes on a job (in the job's language when it was
# written): matched back to their template so they can be drawn again in
# the reader's language. "{}" is where the parameter goes.
ERROR_TEMPLATES = [
    gettext_noop("The video service is too busy right now. Your credits were returned; please try again later."),
    gettext_noop("The video service is unavailable right now. Your credits were returned."),
    gettext_noop("The provider could not accept this request: {}"),
    gettext_noop("The provider could not make this video: {}"),
    gettext_noop("The provider could not make this video ({}). Your credits were returned."),
    gettext_noop("The provider could not generate this video."),
    gettext_noop("We could not save the video: {}"),
    gettext_noop("The video took too long and was cancelled. Your credits were returned."),
    gettext_noop("Cancelled by an operator. Your {} credits were returned."),
    gettext_noop("The 1080p version could not be made: {}"),
]


def provider_message(text: str) -> str:
    """The provider's words in the reader's language when we know them."""
    text = (text or "").strip()
    known = PROVIDER_MESSAGES.get(text) or PROVIDER_MESSAGES.get(text.rstrip("."))
    if known is None and _FLAGGED.search(text):
        known = PROVIDER_MESSAGES["Your prompt was flagged by Website as violating content policies."]
    return str(known) if known is not None else text


@lru_cache(maxsize=16)
def _patterns(language: str) -> list[tuple[re.Pattern, str]]:
    with translation.override(language):
        pairs = []
        for template in ERROR_TEMPLATES:
            shown = gettext(template)
            pattern = re.escape(shown).replace(re.escape("{}"), "(.*)")
            pairs.append((re.compile(f"^{pattern}$", re.DOTALL), template))
        return pairs


def reason(text: str, written_in: str = "en") -> str:
    """A stored reason (`Job.error_message`, `Upgrade.error`) in the reader's
    language: recognised templates are drawn again with their parameter,
    the provider's words translated; anything else is shown as stored."""
    if not text:
        return ""
    for language in dict.fromkeys([written_in or "en", "en", "zh-hans"]):
        for pattern, template in _patterns(language):
            match = pattern.match(text)
            if match:
                params = [provider_message(p) for p in match.groups()]
                return gettext(template).replace("{}", params[0]) if params else gettext(template)
    return provider_message(text)
