"""Pages the operator edits in the admin (terms, privacy), per language."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class LegalPage(models.Model):
    """The operator's own text for a page; without a row for the reader's
    language the page shows the built-in default (a template)."""

    class Slug(models.TextChoices):
        TERMS = "terms", _("Terms of service")
        PRIVACY = "privacy", _("Privacy policy")

    slug = models.CharField(max_length=16, choices=Slug.choices)
    language = models.CharField(max_length=16, choices=settings.LANGUAGES, default="en")
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Plain text; blank lines separate paragraphs.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slug", "language"], name="legal_page_once_per_language")]

    def __str__(self) -> str:
        return f"{self.get_slug_display()} ({self.language})"


class Profile(models.Model):
    """What a person sets on /account/ beyond Django's user: the language
    the pages and emails use for them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    language = models.CharField(max_length=16, choices=settings.LANGUAGES, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.user}: {self.language or 'browser language'}"
