"""The landing page, terms and privacy, the account page, error pages."""

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from billing.selectors import price_table
from videos.models import NoticePreference

from . import services
from .forms import AccountForm
from .models import LegalPage, Profile


def home(request):
    """Signed in: the gallery. Signed out: what this is, examples, prices."""
    if request.user.is_authenticated:
        return redirect("videos:gallery")
    prices = price_table()
    return render(
        request,
        "pages/landing.html",
        {
            "prices": [p for code, p in prices.items() if code.startswith("veo")],
            "upgrades": [p for code, p in prices.items() if not code.startswith("veo")],
            "signup_grant": settings.SIGNUP_GRANT_CREDITS,
        },
    )


@require_GET
def legal(request, slug: str):
    """Terms or privacy: the operator's text for the reader's language,
    else the built-in default."""
    page = LegalPage.objects.filter(slug=slug, language=translation.get_language()).first()
    if page is None:
        page = LegalPage.objects.filter(slug=slug, language=settings.LANGUAGE_CODE).first()
    paragraphs = [p.strip() for p in page.body.replace("\r\n", "\n").split("\n\n") if p.strip()] if page else []
    return render(
        request,
        "pages/legal.html",
        {
            "page": page,
            "paragraphs": paragraphs,
            "slug": slug,
            "default_template": f"pages/legal_default_{slug}.html",
            "title": page.title if page else LegalPage.Slug(slug).label,
        },
    )


def _email_state(user) -> dict:
    """The address and whether it is verified (django-allauth's record when
    that is installed; unknown otherwise)."""
    if apps.is_installed("allauth.account"):
        from allauth.account.models import EmailAddress

        address = EmailAddress.objects.filter(user=user, primary=True).first()
        return {"managed": True, "verified": bool(address and address.verified), "known": True}
    return {"managed": False, "verified": False, "known": False}


@login_required
def account(request):
    """Profile, language, notices by email, email verification; API tokens
    and the webhook have their own blocks in the template."""
    state = _email_state(request.user)
    profile = Profile.objects.filter(user=request.user).first()
    initial = {
        "first_name": request.user.first_name,
        "last_name": request.user.last_name,
        "email": request.user.email,
        "language": profile.language if profile else "",
        "notice_email": NoticePreference.objects.filter(user=request.user, email=True).exists(),
    }
    form = AccountForm(request.POST or None, initial=initial, email_editable=not state["managed"])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.account_update(
            user=request.user,
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data.get("email") if "email" in form.fields else None,
            language=data["language"],
            notice_email=data["notice_email"],
        )
        response = redirect("account")
        if data["language"]:
            translation.activate(data["language"])
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, data["language"], samesite="Lax")
        else:  # "as my browser says": forget an earlier choice
            response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
        messages.success(request, _("Your account is saved."))
        return response
    return render(request, "pages/account.html", {"form": form, "email_state": state})


@require_GET
def favicon(request):
    """Browsers (and the admin's pages) ask for /favicon.ico: the logo."""
    from django.templatetags.static import static

    response = redirect(static("img/logo.svg"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def server_error(request):
    """Drawn without the database or the session (they may be what failed)."""
    from django.http import HttpResponseServerError

    template = select_template(["500.html"])
    return HttpResponseServerError(template.render({}))
