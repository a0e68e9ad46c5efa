"""Operators see tokens (never their secrets) and webhook deliveries, and can
revoke a token; rows are made only by the services."""

from django.contrib import admin
from django.utils import timezone

from billing.admin import ReadOnly

from .models import ApiToken, WebhookDelivery


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "user", "name", "prefix", "read_only", "created_at", "last_used_at", "revoked_at")
    list_filter = ("read_only", "revoked_at")
    search_fields = ("user__username", "name", "prefix")
    list_select_related = ("user",)
    exclude = ("secret_hash",)
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("api.change_apitoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("id", "created_at", "user", "event_type", "state", "attempts", "last_status", "last_error")
    list_filter = ("state", "event_type")
    search_fields = ("user__username", "msg_id", "url")
    list_select_related = ("user",)
