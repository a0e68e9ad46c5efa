"""Personal API tokens, idempotency keys, and the user's webhook with its
delivery log."""

import base64
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

TOKEN_PREFIX = "veo_"  # noqa: S105 (a recognisable prefix, not a secret)


def token_hash(raw: str) -> str:
    """sha256 of the whole token. A token carries 32 random bytes, so a fast
    hash is enough (no dictionary to guess from) and lookup stays one index
    probe per request."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_webhook_secret() -> str:
    """Standard Webhooks secrets are `whsec_` + base64 of 24–64 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class ApiToken(models.Model):
    """A personal token. Only its hash is stored; `prefix` (the first
    characters, shown in lists) lets a person recognise it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64)
    prefix = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    read_only = models.BooleanField(default=False, help_text="May read, may not create videos.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Requests per minute: a fixed one-minute window counted by one
    # conditional UPDATE per request (see api.auth.token_admit).
    window_started_at = models.DateTimeField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyKey(models.Model):
    """The first answer to a create with an `Idempotency-Key`, per user.

    The unique (user, key) row is written (state `running`) before any work,
    so of two concurrent requests with one key exactly one proceeds."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    job = models.ForeignKey("videos.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class WebhookEndpoint(models.Model):
    """Where a user wants final states of their work POSTed, and the secret
    that signs them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=2000, blank=True, default="")
    secret = models.CharField(max_length=80, default=new_webhook_secret)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"webhook of {self.user}: {self.url or '(none)'}"


class WebhookDelivery(models.Model):
    """One event to one URL, with its attempts. `event_key` is unique per
    user so a job's final state is announced once however often it is
    reported."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_key = models.CharField(max_length=80)
    msg_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=32)
    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["next_attempt_at"], name="webhook_due", condition=Q(state="pending"))]
        constraints = [models.UniqueConstraint(fields=["user", "event_key"], name="webhook_event_once")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id} ({self.state})"
