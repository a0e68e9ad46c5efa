"""The language a person chose on /account/ follows them to a new browser."""

from django.conf import settings
from django.utils import translation

from .models import Profile


class ProfileLanguageMiddleware:
    """After authentication: a signed-in person without a language cookie
    (a new browser, a cleared cookie) gets the language saved on their
    profile, and the cookie, so this costs one query per browser, not per
    request. Must come after LocaleMiddleware and AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = None
        user = getattr(request, "user", None)
        # The cookie first: asking whether the user is signed in reads the user.
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES and user is not None and user.is_authenticated:
            language = Profile.objects.filter(user=user).values_list("language", flat=True).first()
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        if language:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")
        return response
