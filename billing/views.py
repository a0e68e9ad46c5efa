from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import payments
from . import stripe as stripe_api
from .forms import BuyForm, ConfirmForm, RedeemForm
from .models import Payment
from .redeem import RedeemRefused, code_redeem
from .selectors import active_packs, balance_of, ledger_of, payments_of, price_table


@login_required
def overview(request):
    page = Paginator(ledger_of(request.user.pk), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/overview.html",
        {
            "balance": balance_of(request.user.pk),
            "page": page,
            "prices": price_table(),
            "signup_grant": settings.SIGNUP_GRANT_CREDITS,
            "payments": payments_of(request.user.pk)[:20],
        },
    )


def pricing(request):
    """Packs and what each model costs, for anyone."""
    return render(
        request,
        "billing/pricing.html",
        {"packs": active_packs(), "prices": price_table(), "signup_grant": settings.SIGNUP_GRANT_CREDITS},
    )


def _stripe_context() -> dict:
    return {"stripe_js": stripe_api.js_url(), "publishable_key": settings.STRIPE_PUBLISHABLE_KEY}


@login_required
def buy(request):
    """GET: the packs. POST `pack`: start a card payment and answer the page
    that takes the card (it carries the PaymentIntent in data-payment-intent)."""
    form = BuyForm(request.POST or None)
    enabled = stripe_api.enabled()
    if request.method == "POST" and form.is_valid() and enabled:
        try:
            payment, intent = payments.payment_start(user=request.user, pack=form.cleaned_data["pack"])
        except payments.PaymentRefused as exc:
            form.add_error(None, exc.message)
        else:
            context = {"payment": payment, "client_secret": intent.client_secret, **_stripe_context()}
            response = render(request, "billing/pay.html", context)
            response._csp_update = stripe_api.csp_sources()  # django-csp: Stripe.js on this page only
            return response
    status = 400 if form.errors else (503 if request.method == "POST" and not enabled else 200)
    context = {"form": form, "packs": active_packs(), "enabled": enabled, "balance": balance_of(request.user.pk)}
    return render(request, "billing/buy.html", context, status=status)


def _own_payment(request, pk: int) -> Payment:
    return get_object_or_404(Payment, pk=pk, user=request.user)


@login_required
@require_POST
def payment_confirm(request, pk: int):
    """The card page posts the payment method (or token) here; we confirm
    the PaymentIntent on the server and say what the browser does next."""
    payment = _own_payment(request, pk)
    form = ConfirmForm(request.POST)
    done_url = reverse("billing:payment", args=[payment.pk])
    if not form.is_valid():
        return JsonResponse({"status": "failed", "error": _("Enter your card details.")}, status=400)
    try:
        intent = payments.payment_confirm(payment=payment, **form.cleaned_data)
    except payments.PaymentRefused as exc:
        return JsonResponse({"status": "failed", "error": exc.message}, status=402)
    answer = {"status": intent.status, "next": done_url}
    if intent.status == "requires_action":
        answer["client_secret"] = intent.client_secret
    return JsonResponse(answer)


@login_required
def payment_detail(request, pk: int):
    """Where the card page lands: re-reads the PaymentIntent (credits arrive
    here if the webhook has not come yet) and shows the receipt."""
    payment = _own_payment(request, pk)
    if payment.status != Payment.Status.SUCCEEDED and stripe_api.enabled():
        payment = payments.payment_sync(payment=payment)
    return render(request, "billing/payment.html", {"payment": payment, "balance": balance_of(request.user.pk)})


@csrf_exempt
@require_POST
def stripe_webhook(request):
    outcome = payments.payment_event_handle(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    return HttpResponse(outcome.message, status=outcome.status, content_type="text/plain")


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


@login_required
def redeem(request):
    form = RedeemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            redemption = code_redeem(user=request.user, code=form.cleaned_data["code"], ip=_client_ip(request))
        except RedeemRefused as exc:
            form.add_error("code", exc.message)
        else:
            messages.success(
                request,
                _("Code redeemed: %(n)s credits added.") % {"n": redemption.code.credits},
            )
            return redirect("billing:overview")
    return render(request, "billing/redeem.html", {"form": form}, status=400 if form.errors else 200)
