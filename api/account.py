"""The developer sections of /account/: API tokens and the webhook.

Each section is a self-contained page (/account/tokens/, /account/webhook/)
whose body is a partial (`api/_tokens.html`, `api/_webhook.html`); any
account page shows them with `{% load developer %}{% developer_tokens %}
{% developer_webhook %}` (api/templatetags/developer.py loads their data).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from . import services
from .models import ApiToken, WebhookDelivery
from .outbound import UrlRefused

DELIVERY_LOG_SIZE = 30


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        label=gettext_lazy("Token name"),
        help_text=gettext_lazy("What it is for, e.g. “laptop” or “CI”."),
        error_messages={"required": gettext_lazy("Give the token a name.")},
    )
    read_only = forms.BooleanField(required=False, label=gettext_lazy("Read only (cannot create videos)"))


class WebhookForm(forms.Form):
    url = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        label=gettext_lazy("Webhook URL"),
        help_text=gettext_lazy("We POST here when a video or an upgrade is finished. Leave empty to stop."),
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if url:
            try:
                services.check_webhook_url(url)
            except UrlRefused as exc:
                raise forms.ValidationError(str(exc)) from exc
        return url


def developer_context(user, *, token_form=None, webhook_form=None, new_token: str = "") -> dict:
    """What the two partials need, for the account page that includes them."""
    endpoint = services.webhook_of(user)
    return {
        "tokens": ApiToken.objects.filter(user=user),
        "token_form": token_form or TokenForm(),
        "new_token": new_token,
        "webhook": endpoint,
        "webhook_form": webhook_form or WebhookForm(initial={"url": endpoint.url}),
        "deliveries": WebhookDelivery.objects.filter(user=user)[:DELIVERY_LOG_SIZE],
    }


@login_required
def tokens(request):
    form = TokenForm(request.POST or None)
    new_token = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _token, new_token = services.token_create(
                user=request.user, name=form.cleaned_data["name"], read_only=form.cleaned_data["read_only"]
            )
            form = TokenForm()
        else:
            status = 400
    # The new token is in this answer only: it is not stored anywhere.
    response = render(request, "api/tokens.html", {"token_form": form, "new_token": new_token}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, token_id: int):
    if services.token_revoke(user=request.user, token_id=token_id):
        messages.success(request, _("The token is revoked: it no longer works."))
    return redirect("account_tokens")


@login_required
def webhook(request):
    form = WebhookForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.webhook_set_url(user=request.user, url=form.cleaned_data["url"])
            except UrlRefused as exc:  # DNS may answer differently the second time
                form.add_error("url", str(exc))
            else:
                messages.success(request, _("Your webhook is saved."))
                return redirect("account_webhook")
        return render(request, "api/webhook.html", {"webhook_form": form}, status=400)
    return render(request, "api/webhook.html")


@login_required
@require_POST
def webhook_rotate(request):
    services.webhook_rotate_secret(user=request.user)
    messages.success(request, _("A new signing secret is in use. Update your receiver."))
    return redirect("account_webhook")
