from django.contrib import admin, messages

from . import services
from .models import Job, JobImage, ProviderCall


class ProviderCallInline(admin.TabularInline):
    model = ProviderCall
    extra = 0
    can_delete = False
    fields = ("created_at", "endpoint", "http_status", "code", "duration_ms", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class JobImageInline(admin.TabularInline):
    model = JobImage
    extra = 0
    can_delete = False
    fields = ("position", "file", "source_url", "content_type")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "user", "model", "generation_type", "status", "price_credits", "task_id")
    list_filter = ("status", "model", "generation_type", "created_at")
    search_fields = ("prompt", "task_id", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    inlines = [JobImageInline, ProviderCallInline]
    actions = ["repoll", "fail_and_refund"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-poll the provider now")
    def repoll(self, request, queryset):
        count = 0
        for job in queryset.filter(status=Job.Status.SUBMITTED, task_id__isnull=False):
            services.job_poll(job.pk)
            count += 1
        self.message_user(request, f"Polled {count} submitted job(s).", messages.INFO)

    @admin.action(description="Fail and refund (active jobs only)")
    def fail_and_refund(self, request, queryset):
        done = sum(
            services.job_fail(job.pk, reason=f"Cancelled by an operator ({request.user}). Your credits were returned.")
            for job in queryset.filter(status__in=Job.ACTIVE)
        )
        self.message_user(request, f"Failed and refunded {done} job(s).", messages.INFO)
