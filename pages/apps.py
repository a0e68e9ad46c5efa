from django.apps import AppConfig


class PagesConfig(AppConfig):
    """The site's own pages: the landing page, terms and privacy, the
    account page, and the branded error pages."""

    name = "pages"
    default_auto_field = "django.db.models.BigAutoField"
