"""A refusal: a request the app will not carry out, and the one place that
tells the person why.

Services raise a `Refusal` subclass (billing's InsufficientCredits and
Refused, videos' UpgradeNotAvailable, ...) carrying a message for people, a
stable `code` for programs and the HTTP `status` a JSON client gets. Views,
the batch page, the admin and the API never pick words out of an exception
themselves: they hand it to `as_form_error`, `as_message` or `as_json`.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, JsonResponse


class Refusal(Exception):
    """Base of every refusal; `message` is already in the user's language."""

    code = "refused"
    status = 400

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = str(message)
        self.retry_after = retry_after


def as_form_error(form: forms.Form, refusal: Refusal) -> None:
    """The refusal as an error of the whole form (shown above its fields)."""
    form.add_error(None, refusal.message)


def as_message(request: HttpRequest, refusal: Refusal) -> None:
    """The refusal as a flash message on the next page, tagged with its code
    (the page links "insufficient_credits" to buying)."""
    messages.error(request, refusal.message, extra_tags=refusal.code)


def as_json(refusal: Refusal, *, nested: bool = False) -> JsonResponse:
    """The refusal as a JSON error with its status (and Retry-After).

    The pages' JSON answers `{"error": message}`; the API (nested=True)
    answers `{"error": {"code": ..., "message": ...}}` as its contract says.
    """
    body = {"code": refusal.code, "message": refusal.message} if nested else refusal.message
    response = JsonResponse({"error": body}, status=refusal.status)
    if refusal.retry_after:
        response["Retry-After"] = str(refusal.retry_after)
    return response


def describe(refusal: Refusal) -> str:
    """The refusal as one line of text (batch results, admin summaries)."""
    return refusal.message
