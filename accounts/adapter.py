"""allauth, fitted to the contract: Django's wording for the messages the
forms and tests already use, and one place that says which messages those are."""

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth import get_user_model
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

EMAIL_TAKEN = _("An account with this email exists already. Log in or reset your password.")


class AccountAdapter(DefaultAccountAdapter):
    @property
    def error_messages(self) -> dict:  # type: ignore[override]
        # Computed per call: the wrong-password message is Django's own (and
        # so translated by Django), with the username field's name filled in.
        username = get_user_model()._meta.get_field("username").verbose_name
        wrong = gettext(
            "Please enter a correct %(username)s and password. Note that both fields may be case-sensitive."
        ) % {"username": username}
        return {
            **DefaultAccountAdapter.error_messages,
            "email_taken": EMAIL_TAKEN,
            "username_password_mismatch": wrong,
            "email_password_mismatch": wrong,
        }
