"""The signup grant follows the email address: credited when it is verified
(or at sign-up when ACCOUNT_EMAIL_VERIFICATION is "none"), once per user."""

from allauth.account.signals import email_confirmed, user_signed_up
from django.conf import settings
from django.dispatch import receiver

from billing.services import signup_grant


@receiver(email_confirmed)
def grant_on_verification(sender, request, email_address, **kwargs) -> None:
    signup_grant(user=email_address.user, amount=settings.SIGNUP_GRANT_CREDITS)


@receiver(user_signed_up)
def grant_without_verification(sender, request, user, **kwargs) -> None:
    if settings.ACCOUNT_EMAIL_VERIFICATION == "none":
        signup_grant(user=user, amount=settings.SIGNUP_GRANT_CREDITS)
