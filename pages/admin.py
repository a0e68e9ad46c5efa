from django.contrib import admin

from .models import LegalPage


@admin.register(LegalPage)
class LegalPageAdmin(admin.ModelAdmin):
    list_display = ("slug", "language", "title", "updated_at")
    list_filter = ("slug", "language")
