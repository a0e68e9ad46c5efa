"""Writes of the account page."""

from django.db import transaction

from videos import notices

from .models import Profile


def account_update(
    *, user, first_name: str, last_name: str, email: str | None, language: str, notice_email: bool
) -> None:
    """Save what /account/ edits in one transaction. `email` None leaves the
    address alone (it is managed where its verification lives)."""
    with transaction.atomic():
        user.first_name, user.last_name = first_name, last_name
        fields = ["first_name", "last_name"]
        if email is not None:
            user.email = email
            fields.append("email")
        user.save(update_fields=fields)
        Profile.objects.update_or_create(user=user, defaults={"language": language})
        notices.notice_preference_set(user=user, email=notice_email)
