"""Credits: an append-only ledger, a cached balance per user, and prices.

The wallet balance is a cache of the ledger sum, kept in the same transaction
as every ledger row; the database refuses a negative balance and a second
entry of the same kind for the same reference (so a refund cannot happen
twice).
"""

from django.conf import settings
from django.core.validators import RegexValidator
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
        PURCHASE = "purchase", _("Purchase")
        REVERSAL = "reversal", _("Payment refunded or disputed")
        REDEEM = "redeem", _("Redeem code")

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


# --- money in ------------------------------------------------------------------


class CreditPack(models.Model):
    """What people can buy: a number of credits for a price. Operators edit
    these rows; a payment copies the figures it was made with."""

    name = models.CharField(max_length=64)
    credits = models.PositiveIntegerField()
    amount = models.PositiveIntegerField(help_text="Price in the currency's smallest unit (cents for USD).")
    currency = models.CharField(
        max_length=3,
        default="usd",
        validators=[RegexValidator(r"^[A-Za-z]{3}$", "A three-letter ISO code, such as usd or eur.")],
        help_text="ISO code (usd, eur); stored in lower case, as Stripe reports it.",
    )
    active = models.BooleanField(default=True, help_text="Only active packs are offered.")
    order = models.PositiveSmallIntegerField(default=0, help_text="Smaller comes first.")
    best_value = models.BooleanField(default=False, help_text="Marked as the best value on the pages.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "amount"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="pack_credits_positive"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="pack_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.credits} credits for {self.price_display}"

    def save(self, *args, **kwargs):
        # Stripe answers in lower case; our record is compared with it.
        self.currency = self.currency.lower()
        super().save(*args, **kwargs)

    @property
    def price_display(self) -> str:
        return money_display(self.amount, self.currency)


ZERO_DECIMAL_CURRENCIES = {"jpy", "krw", "vnd", "clp", "pyg", "ugx", "xaf", "xof", "bif", "djf", "gnf", "kmf"}


def money_display(amount: int, currency: str) -> str:
    """'12.00 USD' from 1200 and 'usd' (Stripe amounts are in minor units)."""
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {code}"
    return f"{amount // 100}.{amount % 100:02d} {code}"


class Payment(models.Model):
    """One card payment for one pack, tied to one Stripe PaymentIntent.

    The amount, currency and credits are ours, copied from the pack when the
    payment starts; what Stripe reports is checked against them, never the
    other way round. Credits are posted once, under the ledger key
    ("purchase", "stripe:<intent id>").
    """

    class Status(models.TextChoices):
        CREATED = "created", _("Waiting for the card")
        REQUIRES_ACTION = "requires_action", _("Waiting for authentication")
        PROCESSING = "processing", _("Processing")
        SUCCEEDED = "succeeded", _("Paid")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    pack = models.ForeignKey(CreditPack, null=True, on_delete=models.SET_NULL, related_name="payments")
    pack_name = models.CharField(max_length=64)
    credits = models.PositiveIntegerField()
    amount = models.PositiveIntegerField(help_text="In the currency's smallest unit.")
    currency = models.CharField(max_length=3)
    intent_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED, db_index=True)
    error = models.CharField(max_length=300, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Card confirmations tried.")
    amount_refunded = models.PositiveIntegerField(default=0, help_text="What Stripe reports refunded so far.")
    dispute_lost = models.BooleanField(default=False)
    credits_reversed = models.PositiveIntegerField(default=0, help_text="Credits taken back for refunds and disputes.")
    shortfall = models.PositiveIntegerField(
        default=0, help_text="Credits that should have been taken back but were already spent."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="payment_user_recent")]

    def __str__(self) -> str:
        return f"{self.pack_name} for {self.user} ({self.get_status_display()})"

    @property
    def amount_display(self) -> str:
        return money_display(self.amount, self.currency)

    @property
    def refunded_display(self) -> str:
        return money_display(self.amount_refunded, self.currency)

    @property
    def ledger_reference(self) -> str:
        return f"stripe:{self.intent_id}"

    @property
    def provider_url(self) -> str:
        """The payment in Stripe's dashboard (test mode for test keys)."""
        if not self.intent_id:
            return ""
        test = "" if settings.STRIPE_SECRET_KEY.startswith("sk_live_") else "test/"
        return f"https://dashboard.stripe.com/{test}payments/{self.intent_id}"


class PaymentEvent(models.Model):
    """A Stripe webhook event we accepted (signature and age checked). The
    unique id makes a replayed or redelivered event a no-op."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=64)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    outcome = models.CharField(max_length=200, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class RedeemCode(models.Model):
    """A code worth credits, made in batches by operators. `uses` counts
    redemptions and never passes `max_uses` (the row is locked to redeem)."""

    code = models.CharField(max_length=32, unique=True)
    credits = models.PositiveIntegerField()
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    batch = models.CharField(max_length=64, blank=True, default="", help_text="A label for the batch it came from.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="redeem_credits_positive"),
            models.CheckConstraint(condition=Q(uses__lte=models.F("max_uses")), name="redeem_uses_within_max"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.credits} credits, {self.uses}/{self.max_uses} used)"


class Redemption(models.Model):
    code = models.ForeignKey(RedeemCode, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="redemptions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["code", "user"], name="redemption_once_per_user")]

    def __str__(self) -> str:
        return f"{self.code.code} by {self.user}"


class RedeemAttempt(models.Model):
    """Failed redeem attempts, counted to throttle guessing."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    ip = models.CharField(max_length=45, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"failed redeem by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"
