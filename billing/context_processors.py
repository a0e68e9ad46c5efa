from django.utils.functional import SimpleLazyObject

from .selectors import balance_of


def balance(request):
    """`credit_balance` for the header, read only if a template uses it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"credit_balance": SimpleLazyObject(lambda: balance_of(user.pk))}
