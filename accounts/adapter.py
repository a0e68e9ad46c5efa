"""allauth, fitted to the contract: Django's wording for the messages the
forms and tests already use, and one place that says which messages those are."""

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth import get_user_model
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

EMAIL_TAKEN = _("An account with this email exists already. Log in or reset your password.")


class AccountAdapter(DefaultAccountAdapter):
    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        """Count failed logins per account, not per spelling: allauth keys
        them by the login as typed, so "alice", "ALICE" and alice's email
        would each get their own five guesses. (A private hook of allauth,
        pinned in requirements.txt; test_signup_abuse.py notices a change.)"""
        login = credentials.get("email", credentials.get("username", "")) or ""
        User = get_user_model()
        user = (
            User.objects.filter(email__iexact=login).exclude(email="").first()
            if "@" in login
            else User.objects.filter(username__iexact=login).first()
        )
        if user is None and "@" in login:
            user = User.objects.filter(username__iexact=login).first()
        return f"user:{user.pk}" if user is not None else super()._get_login_attempts_cache_key(request, **credentials)

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
