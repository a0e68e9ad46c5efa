from django import forms
from django.utils.translation import gettext_lazy as _

from .models import CreditPack


class BuyForm(forms.Form):
    pack = forms.ModelChoiceField(
        queryset=CreditPack.objects.filter(active=True),
        error_messages={
            "required": _("Choose a pack."),
            "invalid_choice": _("This pack is not on sale."),
        },
    )


class ConfirmForm(forms.Form):
    """What the card page sends: a payment method made by Stripe.js, or a
    token (localstripe's mock Stripe.js makes only tokens)."""

    payment_method = forms.CharField(max_length=255, required=False)
    token = forms.CharField(max_length=255, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("payment_method") and not data.get("token"):
            raise forms.ValidationError(_("Enter your card details."))
        return data


class RedeemForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=64,
        error_messages={"required": _("Enter the code.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
