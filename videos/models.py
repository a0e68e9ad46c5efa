"""Video jobs, their input images and their provider-call history."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.lookups import Exact, In
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import versions
from .vocabulary import AspectRatio, GenerationType, Resolution, VideoModel


def new_token() -> str:
    return secrets.token_urlsafe(24)


class JobQuerySet(models.QuerySet):
    """Every write to jobs tells `versions` which jobs changed, so that
    status.json can answer from the cache without reading the row."""

    def update(self, **kwargs) -> int:
        if not versions.enabled():
            return super().update(**kwargs)
        pks = self._pks_named() or list(self.values_list("pk", flat=True))
        count = super().update(**kwargs)
        if count:
            versions.jobs_changed(pks, using=self.db)
        return count

    def delete(self):
        if versions.enabled():
            versions.jobs_changed(self._pks_named() or list(self.values_list("pk", flat=True)), using=self.db)
        return super().delete()

    def _pks_named(self) -> list[int] | None:
        """The pks a filter names (`pk=…`, `pk__in=…` among ANDed
        conditions), so the usual conditional update needs no extra query."""
        where = self.query.where
        if where.connector != "AND" or where.negated:
            return None
        for child in where.children:
            target = getattr(getattr(child, "lhs", None), "target", None)
            if target is not self.model._meta.pk:
                continue
            if isinstance(child, Exact) and isinstance(child.rhs, int):
                return [child.rhs]
            if isinstance(child, In) and all(isinstance(v, int) for v in child.rhs):
                return list(child.rhs)
        return None


class Job(models.Model):
    objects = JobQuerySet.as_manager()

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")  # charged, waiting to be sent to the provider
        SUBMITTING = "submitting", _("Submitting")  # a worker is sending it
        SUBMITTED = "submitted", _("Generating")  # the provider is working on it
        DOWNLOADING = "downloading", _("Saving")  # result known, copying it to our storage
        SUCCEEDED = "succeeded", _("Ready")
        FAILED = "failed", _("Failed")

    FINAL = (Status.SUCCEEDED, Status.FAILED)
    ACTIVE = (Status.QUEUED, Status.SUBMITTING, Status.SUBMITTED, Status.DOWNLOADING)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    prompt = models.TextField()
    model = models.CharField(max_length=32, choices=VideoModel.choices, default=VideoModel.VEO3_FAST)
    generation_type = models.CharField(max_length=40, choices=GenerationType.choices, default=GenerationType.TEXT)
    aspect_ratio = models.CharField(max_length=8, choices=AspectRatio.choices, default=AspectRatio.LANDSCAPE)
    seed = models.PositiveIntegerField(null=True, blank=True)
    enable_translation = models.BooleanField(default=True)
    watermark = models.CharField(max_length=100, blank=True, default="")
    # What was asked for (and priced); result_resolution is what the provider says it made.
    resolution = models.CharField(max_length=8, choices=Resolution.choices, default=Resolution.P720)
    # An extension continues this finished video (the provider's extend call on its task).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="extensions", verbose_name="extends"
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # The user's language when they asked: the worker writes reasons in it.
    language = models.CharField(max_length=16, default="en")
    price_credits = models.PositiveIntegerField(help_text="Credits charged, frozen at submission.")
    provider_credits = models.PositiveIntegerField(default=0, help_text="What it costs at the provider, frozen.")
    task_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    # The provider calls back to /hooks/kie/<callback_token>/: unguessable, one per job.
    callback_token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    error_message = models.TextField(blank=True, default="")

    provider_video_url = models.URLField(max_length=2000, blank=True, default="")
    result_resolution = models.CharField(max_length=16, blank=True, default="")
    # What the provider says the task cost (creditsConsumed), when it says so.
    credits_consumed = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    video_file = models.FileField(upload_to="videos/", blank=True, default="", max_length=255)
    video_bytes = models.BigIntegerField(null=True, blank=True)
    video_sha256 = models.CharField(max_length=64, blank=True, default="")
    poster = models.FileField(upload_to="posters/", blank=True, default="", max_length=255)

    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    callback_at = models.DateTimeField(null=True, blank=True)
    provider_completed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # The provider is the final authority: before failing a job at its deadline
    # the app asks record-info once; this marks that the question was asked.
    final_check_at = models.DateTimeField(null=True, blank=True)
    # A "success" without a video was first seen then: after a grace it is the
    # safety filter's empty result, a failure with a refund.
    empty_result_since = models.DateTimeField(null=True, blank=True)

    # Background bookkeeping: when the safety poll is due, when a retry of
    # the submit or download may start, until when a worker holds the job,
    # and when a task for it was last handed to the queue.
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0, help_text="Submit or download attempts so far.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Set when a queued job is granted a running slot (see jobs_dispatch).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    reused_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # An operator's retry of a failed job. One-to-one: the database refuses a
    # second retry of the same job, however the button is clicked or raced.
    retry_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retried_by", editable=False
    )

    # The library: a deleted video leaves the gallery and its files leave
    # storage, but the row stays for the ledger's and the operators' sake.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set while the owner shares it: /s/<share_token>/ plays it for anyone.
    share_token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        # The job admin's actions; viewing a job (view_job) allows none of them.
        permissions = [
            ("repoll_job", "Can re-poll a job at the provider"),
            ("retry_job", "Can retry a job (charges its owner again)"),
            ("refund_job", "Can refund a job"),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="job_user_recent"),
            # Background work looks only at active jobs: a plain index on
            # status finds them among any number of finished ones (partial
            # indexes would not serve the IN and OR queries on SQLite).
            models.Index(fields=["status", "next_attempt_at"], name="job_status"),
            models.Index(fields=["next_poll_at"], name="job_poll_due", condition=Q(status="submitted")),
            models.Index(
                fields=["seed", "model"], name="job_reuse", condition=Q(status="succeeded", seed__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        adding = self._state.adding
        super().save(*args, **kwargs)
        if not adding:
            versions.jobs_changed([self.pk], using=self._state.db)

    def delete(self, *args, **kwargs):
        versions.jobs_changed([self.pk], using=self._state.db)
        return super().delete(*args, **kwargs)

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def charge_reference(self) -> str:
        return f"job:{self.pk}"

    @property
    def is_extension(self) -> bool:
        return self.parent_id is not None

    def chain(self) -> list["Job"]:
        """The videos this one continues, oldest first, then this one."""
        chain, seen, node = [self], {self.pk}, self
        while node.parent_id is not None and node.parent_id not in seen:
            node = node.parent
            seen.add(node.pk)
            chain.insert(0, node)
        return chain

    def can_upgrade(self, kind: str) -> bool:
        """Whether `kind` of derived work may be asked for now: a finished
        16:9 or 9:16 video with a provider task of its own (the provider
        makes 1080p and 4K for both shapes), not upgraded (or upgrading) already."""
        return (
            self.status == self.Status.SUCCEEDED
            and self.aspect_ratio in UPGRADABLE_ASPECTS
            and bool(self.task_id)
            and not self.reused_from_id
            and not self.upgrades.filter(kind=kind, status__in=Upgrade.HOLDING).exists()
        )

    @property
    def can_upgrade_hd(self) -> bool:
        return self.can_upgrade(UpgradeKind.P1080)

    @property
    def can_upgrade_4k(self) -> bool:
        return self.can_upgrade(UpgradeKind.UHD_4K)


# "Auto" is cropped by the provider to one of these; we do not know which.
UPGRADABLE_ASPECTS = (AspectRatio.LANDSCAPE, AspectRatio.PORTRAIT)


def new_upgrade_reference() -> str:
    return "upgrade:" + secrets.token_urlsafe(12)


class UpgradeKind(models.TextChoices):
    """Derived work made from a finished video; the value is its price code."""

    P1080 = Resolution.P1080.value, "1080p"
    UHD_4K = Resolution.UHD_4K.value, "4K"  # get-4k-video: a task of its own, with its own callback


class Upgrade(models.Model):
    """Derived work made from a finished video (the 1080p version; 4K next).

    A row of its own, charged through the ledger under its own unique
    `reference` and refunded under the same one, once. Like a job it is
    claimed and settled by conditional updates on `status`, retried by the
    sweep at `next_attempt_at`, and failed (refunded) at `deadline_at`.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Processing")
        SUCCEEDED = "succeeded", _("Ready")
        FAILED = "failed", _("Failed")

    # Statuses that keep another upgrade of the same kind from being asked for.
    HOLDING = (Status.PENDING, Status.SUCCEEDED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="upgrades")
    kind = models.CharField(max_length=8, choices=UpgradeKind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    price_credits = models.PositiveIntegerField(help_text="Credits charged, frozen when asked for.")
    # The ledger reference of its charge and refund (unique per upgrade).
    reference = models.CharField(max_length=64, unique=True, default=new_upgrade_reference, editable=False)
    task_id = models.CharField(
        max_length=128, blank=True, default="", help_text="The provider task it is made from (or its own, for 4K)."
    )
    # 4K: the provider calls back to /hooks/kie/upgrade/<callback_token>/ (unguessable, one per upgrade).
    callback_token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="4K: when the provider accepted the request.")
    callback_at = models.DateTimeField(null=True, blank=True)
    # A result URL a callback (or status read) gave, for the worker to store.
    result_url = models.URLField(max_length=2000, blank=True, default="")
    credits_consumed = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # Asked the provider once before failing at the deadline (the final authority).
    final_check_at = models.DateTimeField(null=True, blank=True)
    file = models.FileField(upload_to="videos/", blank=True, default="", max_length=255)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="upgrade_due", condition=Q(status="pending")),
        ]
        constraints = [
            # One upgrade of a kind at a time, and none once it is made: two
            # requests racing cannot both be charged.
            models.UniqueConstraint(
                fields=["job", "kind"],
                condition=Q(status__in=["pending", "succeeded"]),
                name="upgrade_once_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of job {self.job_id} ({self.status})"


class JobImage(models.Model):
    """An input image: an upload served at an unguessable URL, or a link."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField()
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    file = models.FileField(upload_to="inputs/", blank=True, default="", max_length=255)
    content_type = models.CharField(max_length=32, blank=True, default="")
    source_url = models.URLField(max_length=2000, blank=True, default="")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="job_image_position_unique")]

    def __str__(self) -> str:
        return f"Image {self.position} of job {self.job_id}"


class ProviderCall(models.Model):
    """One exchange with the provider (or one callback from it), for operators."""

    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="provider_calls")
    endpoint = models.CharField(max_length=128)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    code = models.IntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.endpoint} → {self.code}"


class ProviderGate(models.Model):
    """One row, locked to serialise decisions that must be global across
    processes: handing out running slots and the provider's rate limit."""

    name = models.CharField(max_length=16, unique=True, default="generate")

    def __str__(self) -> str:
        return f"gate {self.name}"

    @classmethod
    def lock(cls) -> "ProviderGate":
        cls.objects.get_or_create(name="generate")
        return cls.objects.select_for_update().get(name="generate")


class SendPermit(models.Model):
    """One generate request sent (or about to be): the sliding window of
    these enforces the provider's limit of N new generations per window."""

    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"permit at {self.created_at}"


class Notice(models.Model):
    """An in-app notice to a user: a video is ready, or failed and was refunded."""

    class Kind(models.TextChoices):
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notice_user_unread")]
        constraints = [models.UniqueConstraint(fields=["job", "kind"], name="notice_once_per_job_and_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: job {self.job_id}"


class NoticePreference(models.Model):
    """Whether a user also wants notices by email (off until they opt in)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_preference")
    email = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user}: email {'on' if self.email else 'off'}"
