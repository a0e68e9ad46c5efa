from django.utils.functional import SimpleLazyObject

from .notices import notices_unread


def notices(request):
    """`unread_notices` for the header, counted only if a template uses it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notices": SimpleLazyObject(lambda: notices_unread(user))}
