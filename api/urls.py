"""/account/ pages of the api app (the JSON API itself is api.views.api)."""

from django.urls import path

from . import account

urlpatterns = [
    path("tokens/", account.tokens, name="account_tokens"),
    path("tokens/<int:token_id>/revoke/", account.token_revoke, name="account_token_revoke"),
    path("webhook/", account.webhook, name="account_webhook"),
    path("webhook/rotate/", account.webhook_rotate, name="account_webhook_rotate"),
]
