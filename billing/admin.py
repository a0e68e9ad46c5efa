from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import path, reverse

from .models import LedgerEntry, Price, Wallet
from .services import InsufficientCredits, credits_grant


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """Read-only: the ledger changes only through billing services."""

    list_display = ("id", "created_at", "user", "kind", "amount", "balance_after", "reference", "reason", "actor")
    list_filter = ("kind", "created_at")
    search_fields = ("user__username", "reference", "reason")
    list_select_related = ("user", "actor")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustForm(forms.Form):
    amount = forms.IntegerField(help_text="Positive grants credits, negative takes them away.")
    reason = forms.CharField(max_length=200, help_text="Shown to the user in their history.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter a non-zero amount.")
        return amount


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("user", "balance", "updated_at")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "balance", "updated_at")
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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
    list_display = ("code", "label", "credits", "provider_credits", "cost_usd", "updated_at")
    list_editable = ("credits", "provider_credits", "cost_usd")
