from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse
from django.utils.html import format_html

from billing.admin import NoAddOrDelete, SafeActions
from billing.models import Wallet
from veoproject import refusals
from veoproject.refusals import Refusal

from . import services
from .models import Job, JobImage, ProviderCall, Upgrade


class UserFilter(admin.SimpleListFilter):
    """Filter by user id (?user=42), linked from the user column; a full
    list of users would not scale."""

    title = "user"
    parameter_name = "user"

    def lookups(self, request, model_admin):
        user_id = request.GET.get(self.parameter_name)
        return [(user_id, f"user #{user_id}")] if user_id and user_id.isdigit() else []

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(user_id=value) if value and value.isdigit() else queryset


class ProviderCallInline(NoAddOrDelete, admin.TabularInline):
    model = ProviderCall
    extra = 0
    fields = ("created_at", "endpoint", "http_status", "code", "duration_ms", "error")
    readonly_fields = fields


class JobImageInline(NoAddOrDelete, admin.TabularInline):
    model = JobImage
    extra = 0
    fields = ("position", "file", "source_url", "content_type")
    readonly_fields = fields


class UpgradeInline(NoAddOrDelete, admin.TabularInline):
    model = Upgrade
    extra = 0
    fields = ("created_at", "kind", "status", "price_credits", "attempts", "next_attempt_at", "error", "file")
    readonly_fields = fields


@admin.register(Upgrade)
class UpgradeAdmin(NoAddOrDelete, admin.ModelAdmin):
    """Derived work (1080p versions): read-only; the worker and sweep move it."""

    list_display = (
        "id",
        "created_at",
        "job",
        "kind",
        "status",
        "price_credits",
        "credits_consumed",
        "attempts",
        "next_attempt_at",
    )
    list_filter = ("status", "kind", "created_at")
    search_fields = ("=job__id", "reference", "task_id")
    list_select_related = ("job",)
    raw_id_fields = ("job",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Upgrade._meta.fields]


class JobActionForm(ActionForm):
    """The action bar with a reason: retries and refunds move money, and the
    admin log keeps who did it and why."""

    reason = forms.CharField(max_length=200, required=False, label="Reason")


@admin.register(Job)
class JobAdmin(SafeActions, NoAddOrDelete, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "user",
        "model",
        "resolution",
        "generation_type",
        "status",
        "price_credits",
        "credits_consumed",
        "parent",
        "task_id",
    )
    list_filter = ("status", "model", "resolution", "generation_type", "created_at", "upgrades__status", UserFilter)
    search_fields = ("prompt", "task_id", "user__username", "=id")
    list_select_related = ("user", "parent")
    date_hierarchy = "created_at"
    actions = ["repoll", "retry", "refund"]
    action_form = JobActionForm

    exclude = ("callback_token",)  # a secret: whoever holds it can settle the job

    # The page leads with the video, then what was asked and what it cost,
    # then the provider history (the inlines); provider details and
    # bookkeeping are folded. Secrets (the
    # callback token, the share token) are never shown.
    fieldsets = [
        (None, {"fields": ("video_preview", "status", "error_message", "owner", "created_at", "finished_at")}),
        (
            "Request",
            {
                "fields": (
                    "prompt",
                    "model",
                    "generation_type",
                    "aspect_ratio",
                    "seed",
                    "enable_translation",
                    "watermark",
                    "language",
                )
            },
        ),
        ("Money", {"fields": ("price_credits", "provider_credits", "reused_from")}),
        (
            "Provider",
            {
                "classes": ("collapse",),
                "fields": (
                    "task_id",
                    "provider_video_url",
                    "resolution",
                    "stored_file",
                    "video_bytes",
                    "video_sha256",
                    "submitted_at",
                    "callback_at",
                    "provider_completed_at",
                    "deadline_at",
                ),
            },
        ),
        (
            "Bookkeeping",
            {
                "classes": ("collapse",),
                "fields": (
                    "next_poll_at",
                    "poll_count",
                    "attempts",
                    "next_attempt_at",
                    "lease_until",
                    "enqueued_at",
                    "dispatched_at",
                    "is_shared",
                    "deleted_at",
                ),
            },
        ),
    ]
    inlines = [ProviderCallInline, UpgradeInline, JobImageInline]

    def get_readonly_fields(self, request, obj=None):
        shown = [name for _, options in self.fieldsets for name in options["fields"]]
        return shown

    @admin.display(description="Video")
    def video_preview(self, obj: Job) -> str:
        if obj.status == Job.Status.SUCCEEDED and obj.video_file:
            poster = reverse("videos:poster", args=[obj.pk]) if obj.poster else ""
            return format_html(
                '<video src="{}" poster="{}" controls preload="metadata" width="480"></video>',
                reverse("videos:file", args=[obj.pk]),
                poster,
            )
        if obj.deleted_at:
            return "Deleted by its owner; the files are gone."
        return obj.get_status_display()

    @admin.display(description="User")
    def owner(self, obj: Job) -> str:
        wallet = Wallet.objects.filter(user_id=obj.user_id).first()
        user_url = reverse("admin:auth_user_change", args=[obj.user_id])
        if wallet is None:
            return format_html('<a href="{}">{}</a>', user_url, obj.user)
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">wallet: {} credits</a> · <a href="{}?user={}">all their jobs</a>',
            user_url,
            obj.user,
            reverse("admin:billing_wallet_change", args=[wallet.pk]),
            wallet.balance,
            reverse("admin:videos_job_changelist"),
            obj.user_id,
        )

    @admin.display(description="Stored as")
    def stored_file(self, obj: Job) -> str:
        """The storage names (media is never served as a folder: the
        video plays above through its owner-checked URL)."""
        return ", ".join(name for name in (obj.video_file.name, obj.poster.name) if name) or "-"

    @admin.display(description="Public link on", boolean=True)
    def is_shared(self, obj: Job) -> bool:
        return bool(obj.share_token)

    # Each action needs its own permission (view_job allows none of them);
    # Django hides the action, and SafeActions answers 403 to its POST.
    def has_repoll_permission(self, request) -> bool:
        return request.user.has_perm("videos.repoll_job")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("videos.retry_job")

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("videos.refund_job")

    def _reason(self, request, action: str) -> str | None:
        """The operator's reason, required where money moves."""
        form = JobActionForm(request.POST, auto_id=None)
        form.fields["action"].choices = self.get_action_choices(request)
        reason = form.cleaned_data.get("reason", "").strip() if form.is_valid() else ""
        if not reason:
            self.message_user(request, f"Give a reason to {action} (the field next to the action).", messages.ERROR)
            return None
        return reason

    @admin.action(description="Re-poll the provider now", permissions=["repoll"])
    def repoll(self, request, queryset):
        count = 0
        for job in queryset.filter(status=Job.Status.SUBMITTED, task_id__isnull=False):
            services.job_poll(job.pk)
            self.log_change(request, job, "Re-polled the provider")
            count += 1
        self.message_user(request, f"Polled {count} submitted job(s).", messages.INFO)

    @admin.action(description="Retry (send a waiting job now; submit a failed one again)", permissions=["retry"])
    def retry(self, request, queryset):
        reason = self._reason(request, "retry")
        if reason is None:
            return
        done, refused = 0, []
        for job in queryset:
            try:
                new = services.job_retry(job.pk)
            except Refusal as refusal:
                refused.append(f"#{job.pk}: {refusals.describe(refusal)}")
                continue
            if new is not None:
                done += 1
                self.log_change(request, job, f"Retry (job #{new.pk}): {reason}")
        self.message_user(request, f"Retried {done} job(s).", messages.INFO)
        if refused:
            self.message_user(request, "Not retried: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Refund (fail active jobs; goodwill refund of finished ones)", permissions=["refund"])
    def refund(self, request, queryset):
        reason = self._reason(request, "refund")
        if reason is None:
            return
        done = 0
        for job in queryset:
            if services.job_refund(job.pk, actor=request.user):
                done += 1
                self.log_change(request, job, f"Refund: {reason}")
        self.message_user(request, f"Refunded {done} job(s); the others had been refunded already.", messages.INFO)
