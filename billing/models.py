"""Credits: an append-only ledger, a cached balance per user, and prices.

The wallet balance is a cache of the ledger sum, kept in the same transaction
as every ledger row; the database refuses a negative balance and a second
entry of the same kind for the same reference (so a refund cannot happen
twice).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Wallet(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wallet")
    balance = models.BigIntegerField(default=0)
    daily_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Credits this user may spend a day; empty: the default setting, 0: no cap."
    )
    monthly_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Credits this user may spend a month; empty: the default, 0: no cap."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_non_negative")]
        # Creating money and taking it are separate powers from editing caps
        # (change_wallet): an operator who sets budgets cannot pay himself.
        permissions = [
            ("grant_credits", "Can grant credits (create money)"),
            ("take_credits", "Can take credits away"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.balance} credits)"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        SIGNUP = "signup", _("Signup grant")
        GRANT = "grant", _("Grant")
        ADJUST = "adjust", _("Adjustment")
        CHARGE = "charge", _("Charge")
        REFUND = "refund", _("Refund")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="Credits; positive adds, negative takes.")
    balance_after = models.BigIntegerField()
    # What the entry is about, e.g. "job:42". (kind, reference) is unique when
    # set: one charge and at most one refund per job.
    reference = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(max_length=255, blank=True, default="")
    # What the entry means at the provider: a charge's provider credits, or
    # minus them on its refund. Provider spend is the sum of this column.
    provider_credits = models.IntegerField(default=0)
    # A charge (and its refund) of an account that holds nothing but its
    # signup grant. Such spend has a budget of its own and never trips the
    # spend breaker, so a crowd of fresh accounts cannot stop paying users.
    free_tier = models.BooleanField(default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="ledger_user_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "reference"], condition=~Q(reference=""), name="ledger_kind_reference_unique"
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_non_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d} for {self.user}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only; post a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only and cannot be deleted.")


class Price(models.Model):
    """What one unit of work costs the user (credits) and the operator.

    A generation's price is a row per model and resolution (the table the
    provider sells: Lite, Fast and Quality at 720p, 1080p and 4K); derived
    work has a row per kind with no model (code '1080p', '4k'). An extension
    costs its model's 720p price (the provider bills it as a generation).
    """

    code = models.CharField(
        max_length=32, unique=True, help_text="A name for the row: the model at 720p, model_resolution, or an upgrade."
    )
    model = models.CharField(max_length=32, blank=True, default="", help_text="The model; empty for upgrades.")
    resolution = models.CharField(max_length=8, blank=True, default="", help_text="720p, 1080p or 4k.")
    label = models.CharField(max_length=64)
    credits = models.PositiveIntegerField(help_text="Credits charged to the user.")
    provider_credits = models.PositiveIntegerField(help_text="kie.ai credits it costs the operator.")
    cost_usd = models.DecimalField(max_digits=8, decimal_places=4, help_text="What it costs the operator in USD.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "credits"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="price_credits_positive"),
            # One price per model and resolution: a request finds exactly one row.
            models.UniqueConstraint(
                fields=["model", "resolution"], condition=~Q(model=""), name="price_model_resolution_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.credits} credits"


class BreakerState(models.Model):
    """The circuit breaker: one row. While open, no new submission is
    accepted and no queued job is sent. Only an operator closes it."""

    name = models.CharField(max_length=16, unique=True, default="provider")
    is_open = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True, default="")
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "circuit breaker"
        permissions = [("reset_breaker", "Can reset the circuit breaker (resume submissions)")]

    def __str__(self) -> str:
        return f"Circuit breaker: {'OPEN' if self.is_open else 'closed'}"


class BreakerEvent(models.Model):
    class Kind(models.TextChoices):
        TRIP = "trip", "Tripped"
        RESET = "reset", "Reset"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.reason}"


class ProviderBalance(models.Model):
    """One reading of the operator's kie.ai credit balance."""

    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    credits = models.BigIntegerField(null=True, blank=True)
    below_threshold = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        verbose_name = "provider balance reading"

    def __str__(self) -> str:
        return f"{self.credits} provider credits at {self.checked_at:%Y-%m-%d %H:%M}"
