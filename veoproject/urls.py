from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

from pages import views as page_views
from videos import callbacks
from videos import views as video_views

from . import accounts


def healthz(request):
    """For load balancers and uptime checks: the process answers."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", page_views.home, name="home"),
    path("terms/", page_views.legal, {"slug": "terms"}, name="terms"),
    path("privacy/", page_views.legal, {"slug": "privacy"}, name="privacy"),
    path("account/", page_views.account, name="account"),
    path("s/<slug:token>/", video_views.shared, name="shared"),
    path("s/<slug:token>/video.mp4", video_views.shared_file, name="shared_file"),
    path("s/<slug:token>/poster.jpg", video_views.shared_poster, name="shared_poster"),
    path("favicon.ico", page_views.favicon, name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("videos/", include("videos.urls")),
    path("billing/", include("billing.urls")),
    path("hooks/kie/<slug:token>/", callbacks.kie_callback, name="kie_callback"),
    path("admin/", admin.site.urls),
]

handler404 = "pages.views.page_not_found"
handler500 = "pages.views.server_error"

admin.site.site_header = "Veo Studio operations"
admin.site.site_title = "Veo Studio admin"
