from django.contrib import admin
from django.contrib.auth import urls as django_auth_urls
from django.urls import include, path

from accounts import views as accounts
from accounts.forms import AdminLoginForm
from api.views import api as api_v1
from billing import views as billing_views
from pages import views as page_views
from videos import callbacks
from videos import views as video_views

from .health import Healthz

# Django's auth views but login and password reset (ours, below, take the names).
auth_urls = [p for p in django_auth_urls.urlpatterns if p.name not in ("login", "password_reset")]

urlpatterns = [
    path("", page_views.home, name="home"),
    path("terms/", page_views.legal, {"slug": "terms"}, name="terms"),
    path("privacy/", page_views.legal, {"slug": "privacy"}, name="privacy"),
    path("account/", page_views.account, name="account"),
    path("s/<slug:token>/", video_views.shared, name="shared"),
    path("s/<slug:token>/video.mp4", video_views.shared_file, name="shared_file"),
    path("s/<slug:token>/poster.jpg", video_views.shared_poster, name="shared_poster"),
    path("favicon.ico", page_views.favicon, name="favicon"),
    path("healthz", Healthz.as_view(), name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language
    # allauth's sign-up and log-in under the contract's names and fields;
    # log-out and password change/reset stay Django's views; allauth's
    # remaining pages (email confirmation) after them.
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/password_reset/", accounts.password_reset, name="password_reset"),
    path("accounts/", include(auth_urls)),
    path("accounts/", include("allauth.urls")),
    path("videos/", include("videos.urls")),
    path("pricing/", billing_views.pricing, name="pricing"),
    path("billing/", include("billing.urls")),
    path("hooks/kie/upgrade/<slug:token>/", callbacks.kie_upgrade_callback, name="kie_upgrade_callback"),
    path("hooks/kie/<slug:token>/", callbacks.kie_callback, name="kie_callback"),
    path("admin/", admin.site.urls),
    path("api/v1/", api_v1.urls),
    path("account/", include("api.urls")),  # the api app's sections (tokens, webhook); see api/account.py
]

admin.site.login_form = AdminLoginForm  # the site's failed-login throttle, in the admin too
handler404 = "pages.views.page_not_found"
handler500 = "pages.views.server_error"

admin.site.site_header = "Veo Studio operations"
admin.site.site_title = "Veo Studio admin"
