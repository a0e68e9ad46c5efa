from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

# The admin page sits above both apps: what the provider stated per task
# is read from the video jobs and upgrades that keep it.
from videos.selectors import stated_costs

from .exceptions import InsufficientCredits
from .models import BreakerEvent, BreakerState, LedgerEntry, Price, ProviderBalance, Wallet
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


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: the ledger changes only through billing services."""

    list_display = ("id", "created_at", "user", "kind", "amount", "balance_after", "reference", "reason", "actor")
    list_filter = ("kind", "created_at")
    search_fields = ("user__username", "reference", "reason")
    list_select_related = ("user", "actor")
    date_hierarchy = "created_at"


class AdjustForm(forms.Form):
    amount = forms.IntegerField(help_text="Positive grants credits, negative takes them away.")
    reason = forms.CharField(max_length=200, help_text="Shown to the user in their history.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter a non-zero amount.")
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

    def adjust_view(self, request, pk: int):
        wallet = Wallet.objects.select_related("user").get(pk=pk)
        form = AdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            amount = form.cleaned_data["amount"]
            try:
                credits_grant(
                    user=wallet.user,
                    amount=amount,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    kind=LedgerEntry.Kind.GRANT if amount > 0 else LedgerEntry.Kind.ADJUST,
                )
            except InsufficientCredits as exc:
                form.add_error("amount", f"The balance is {exc.available}; it cannot go below zero.")
            else:
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
        extra_context = {**(extra_context or {}), "events": BreakerEvent.objects.select_related("actor")[:20]}
        return super().changelist_view(request, extra_context)

    def reset_view(self, request):
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
