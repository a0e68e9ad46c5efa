import re
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

# The admin page sits above both apps: what the provider stated per task
# is read from the video jobs and upgrades that keep it.
from videos.selectors import stated_costs

from .exceptions import InsufficientCredits
from .models import (
    BreakerEvent,
    BreakerState,
    CreditPack,
    LedgerEntry,
    Payment,
    PaymentEvent,
    Price,
    ProviderBalance,
    RedeemCode,
    Redemption,
    Wallet,
)
from .payments import payment_sync
from .redeem import codes_create
from .selectors import latest_provider_balance, reconciliation
from .services import breaker_reset, credits_grant


class NoAddOrDelete:
    """Rows that only services create, and nobody deletes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnly(NoAddOrDelete):
    """History: visible to operators, never edited."""

    def has_change_permission(self, request, obj=None):
        return False


def require_perm(request, *perms: str) -> None:
    """403 unless the operator holds every permission named: admin_view only
    checks is_staff, and a staff flag alone must move no money."""
    if not request.user.has_perms(perms):
        raise PermissionDenied


class SafeActions:
    """Admin actions: 403 for an action the operator may not run, and a
    message, not a 500, for selections that are not ids
    (`_selected_action=abc`, 10**30), which Django would turn into a query
    that raises before any action runs."""

    def changelist_view(self, request, extra_context=None):
        # Django silently ignores an action the operator may not run; answer
        # 403 so that a forged or stale form is a refusal, not a shrug.
        action = request.POST.get("action") if request.method == "POST" else None
        if action and action not in self.get_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def response_action(self, request, queryset):
        selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        if any(not re.fullmatch(r"[0-9]{1,18}", value, flags=re.ASCII) for value in selected):
            self.message_user(request, "Select rows from the list; those ids are not valid.", messages.ERROR)
            return redirect(request.get_full_path())
        return super().response_action(request, queryset)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: the ledger changes only through billing services."""

    list_display = ("id", "created_at", "user", "kind", "amount", "balance_after", "reference", "reason", "actor")
    list_filter = ("kind", "created_at")
    search_fields = ("user__username", "reference", "reason")
    list_select_related = ("user", "actor")
    date_hierarchy = "created_at"


class AmountField(forms.Field):
    """A whole number of credits written in ASCII digits, within the
    operator limit. IntegerField would take "１０００" or "٣" (int() reads any
    Unicode digit), "5.0", and numbers past the database column."""

    def to_python(self, value):
        value = str(value).strip() if value is not None else ""
        if not value:
            return None
        if not re.fullmatch(r"[+-]?[0-9]{1,12}", value, flags=re.ASCII):
            raise ValidationError("Enter a whole number of credits in digits 0-9, e.g. 25 or -10.")
        return int(value)

    def validate(self, value):
        super().validate(value)
        limit = settings.ADMIN_ADJUST_MAX_CREDITS
        if value is not None and not -limit <= value <= limit:
            raise ValidationError(f"At most {limit} credits at a time, either way.")


class AdjustForm(forms.Form):
    amount = AmountField(help_text="Positive grants credits, negative takes them away.")
    reason = forms.CharField(
        max_length=200, help_text="Kept in the audit record with your name; the user sees “Operator adjustment”."
    )

    def __init__(self, *args, may_grant: bool, may_take: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_grant, self.may_take = may_grant, may_take

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter a non-zero amount.")
        if amount > 0 and not self.may_grant:
            raise forms.ValidationError("You may not grant credits (permission “Can grant credits”).")
        if amount < 0 and not self.may_take:
            raise forms.ValidationError("You may not take credits (permission “Can take credits away”).")
        return amount


@admin.register(Wallet)
class WalletAdmin(NoAddOrDelete, admin.ModelAdmin):
    list_display = ("user", "balance", "daily_cap", "monthly_cap", "updated_at")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "balance", "updated_at")
    fields = ("user", "balance", "daily_cap", "monthly_cap", "updated_at")
    list_select_related = ("user",)

    def get_urls(self):
        return [
            path("<int:pk>/adjust/", self.admin_site.admin_view(self.adjust_view), name="billing_wallet_adjust")
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "may_adjust": self._may(request, "grant_credits", "take_credits")}
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _may(request, *codenames: str) -> bool:
        return any(request.user.has_perm(f"billing.{codename}") for codename in codenames)

    def adjust_view(self, request, pk: int):
        """Grant (needs billing.grant_credits) or take (billing.take_credits)
        credits; the ledger row names the operator and the reason, and the
        admin log records the same."""
        may_grant, may_take = self._may(request, "grant_credits"), self._may(request, "take_credits")
        if not (may_grant or may_take):
            raise PermissionDenied
        wallet = get_object_or_404(Wallet.objects.select_related("user"), pk=pk)
        form = AdjustForm(request.POST or None, may_grant=may_grant, may_take=may_take)
        if request.method == "POST" and form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            try:
                credits_grant(
                    user=wallet.user,
                    amount=amount,
                    reason=reason,
                    actor=request.user,
                    kind=LedgerEntry.Kind.GRANT if amount > 0 else LedgerEntry.Kind.ADJUST,
                )
            except InsufficientCredits as exc:
                form.add_error("amount", f"The balance is {exc.available}; it cannot go below zero.")
            else:
                self.log_change(request, wallet, f"Credits {amount:+d}: {reason}")
                self.message_user(request, f"{amount:+d} credits for {wallet.user}.", messages.SUCCESS)
                return redirect(reverse("admin:billing_wallet_change", args=[pk]))
        context = {**self.admin_site.each_context(request), "form": form, "wallet": wallet, "opts": self.model._meta}
        return render(request, "admin/billing/wallet/adjust.html", context)


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("code", "model", "resolution", "label", "credits", "provider_credits", "cost_usd", "updated_at")
    list_editable = ("credits", "provider_credits", "cost_usd")
    list_filter = ("model", "resolution")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, help_text="What was wrong and what you did about it.")


@admin.register(BreakerState)
class BreakerStateAdmin(NoAddOrDelete, admin.ModelAdmin):
    list_display = ("name", "is_open", "reason", "changed_at")
    readonly_fields = ("name", "is_open", "reason", "changed_at")

    def get_urls(self):
        return [
            path("reset/", self.admin_site.admin_view(self.reset_view), name="billing_breakerstate_reset")
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        BreakerState.objects.get_or_create(name="provider")
        extra_context = {
            **(extra_context or {}),
            "events": BreakerEvent.objects.select_related("actor")[:20],
            "may_reset": request.user.has_perm("billing.reset_breaker"),
        }
        return super().changelist_view(request, extra_context)

    def reset_view(self, request):
        """Resume submissions: billing.reset_breaker only; the reset is a
        BreakerEvent with the operator and the reason."""
        require_perm(request, "billing.reset_breaker")
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if breaker_reset(actor=request.user, reason=form.cleaned_data["reason"]):
                self.message_user(request, "Circuit breaker reset: submissions resume.", messages.SUCCESS)
            else:
                self.message_user(request, "The circuit breaker was not open.", messages.INFO)
            return redirect(reverse("admin:billing_breakerstate_changelist"))
        state = BreakerState.objects.filter(name="provider").first()
        context = {**self.admin_site.each_context(request), "form": form, "state": state, "opts": self.model._meta}
        return render(request, "admin/billing/breakerstate/reset.html", context)


@admin.register(BreakerEvent)
class BreakerEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "kind", "reason", "actor")
    list_filter = ("kind",)


@admin.register(ProviderBalance)
class ProviderBalanceAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("checked_at", "credits", "below_threshold", "error")
    list_filter = ("below_threshold",)
    date_hierarchy = "checked_at"

    def get_urls(self):
        return [
            path(
                "reconciliation/",
                self.admin_site.admin_view(self.reconciliation_view),
                name="billing_providerbalance_reconciliation",
            )
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "latest": latest_provider_balance()}
        return super().changelist_view(request, extra_context)

    def reconciliation_view(self, request):
        require_perm(request, "billing.view_providerbalance", "billing.view_ledgerentry")
        rows = reconciliation(days=14)
        stated = stated_costs(since=timezone.now() - timedelta(days=14))
        for row in rows:
            day = stated["days"].get(row["day"], {})
            row["stated_tasks"] = day.get("tasks", 0)
            row["stated_expected"] = day.get("expected")
            row["stated"] = day.get("stated")
        context = {
            **self.admin_site.each_context(request),
            "rows": rows,
            "mismatches": stated["mismatches"],
            "opts": self.model._meta,
            "title": "Reconciliation: ledger spend vs provider balance",
        }
        return render(request, "admin/billing/providerbalance/reconciliation.html", context)


# --- money in ------------------------------------------------------------------


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    list_display = ("name", "credits", "price", "currency", "active", "best_value", "order", "updated_at")
    list_editable = ("active", "best_value", "order")
    list_filter = ("active",)

    @admin.display(description="Price")
    def price(self, obj):
        return obj.price_display


@admin.action(description="Re-read from Stripe (credits or takes back what Stripe reports)")
def reread_from_stripe(modeladmin, request, queryset):
    for payment in queryset:
        payment_sync(payment=payment)
    modeladmin.message_user(request, f"{queryset.count()} payments re-read from Stripe.", messages.SUCCESS)


@admin.register(Payment)
class PaymentAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: payments change only through Stripe and billing.payments."""

    list_display = (
        "id",
        "created_at",
        "user",
        "pack_name",
        "amount_shown",
        "credits",
        "status",
        "refunded_shown",
        "credits_reversed",
        "shortfall",
        "provider_link",
    )
    list_filter = ("status", "dispute_lost", "created_at")
    search_fields = ("user__username", "intent_id", "pack_name")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = [reread_from_stripe]
    readonly_fields = ("provider_link",)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount")
    def amount_shown(self, obj):
        return obj.amount_display

    @admin.display(description="Refunded")
    def refunded_shown(self, obj):
        return obj.refunded_display if obj.amount_refunded else ""

    @admin.display(description="At Stripe")
    def provider_link(self, obj):
        if not obj.intent_id:
            return ""
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', obj.provider_url, obj.intent_id)


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("received_at", "type", "event_id", "payment", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id",)


class CodeBatchForm(forms.Form):
    credits = forms.IntegerField(min_value=1)
    count = forms.IntegerField(min_value=1, max_value=10_000)
    uses = forms.IntegerField(min_value=1, initial=1, help_text="Redemptions per code in all.")
    expires_days = forms.IntegerField(min_value=1, required=False, help_text="Empty: never expires.")
    batch = forms.CharField(max_length=64, required=False, help_text="A label to find the batch again.")


@admin.register(RedeemCode)
class RedeemCodeAdmin(NoAddOrDelete, admin.ModelAdmin):
    list_display = ("code", "credits", "uses", "max_uses", "expires_at", "batch", "active", "created_at")
    list_filter = ("active", "batch")
    search_fields = ("code", "batch")
    readonly_fields = ("code", "credits", "uses", "max_uses", "batch", "created_by", "created_at")
    fields = ("code", "credits", "uses", "max_uses", "expires_at", "batch", "active", "created_by", "created_at")

    def get_urls(self):
        return [
            path("batch/", self.admin_site.admin_view(self.batch_view), name="billing_redeemcode_batch")
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "batch_url": reverse("admin:billing_redeemcode_batch")}
        return super().changelist_view(request, extra_context)

    def batch_view(self, request):
        form = CodeBatchForm(request.POST or None)
        codes = []
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            codes = codes_create(
                credits=data["credits"],
                count=data["count"],
                uses=data["uses"],
                expires_days=data["expires_days"],
                batch=data["batch"],
                actor=request.user,
            )
            self.message_user(request, f"{len(codes)} codes made.", messages.SUCCESS)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "codes": codes,
            "opts": self.model._meta,
            "title": "Make redeem codes",
        }
        return render(request, "admin/billing/redeemcode/batch.html", context)


@admin.register(Redemption)
class RedemptionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "code", "user")
    search_fields = ("code__code", "user__username")
    list_select_related = ("code", "user")
