from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

from videos import callbacks
from videos import views as video_views

from . import accounts


def healthz(request):
    """For load balancers and uptime checks: the process answers."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", video_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("videos/", include("videos.urls")),
    path("billing/", include("billing.urls")),
    path("hooks/kie/upgrade/<slug:token>/", callbacks.kie_upgrade_callback, name="kie_upgrade_callback"),
    path("hooks/kie/<slug:token>/", callbacks.kie_callback, name="kie_callback"),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Veo Studio operations"
admin.site.site_title = "Veo Studio admin"
