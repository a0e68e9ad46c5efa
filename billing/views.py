from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from .selectors import balance_of, ledger_of, price_table


@login_required
def overview(request):
    page = Paginator(ledger_of(request.user.pk), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/overview.html",
        {
            "balance": balance_of(request.user.pk),
            "page": page,
            "prices": price_table(),
            "signup_grant": settings.SIGNUP_GRANT_CREDITS,
        },
    )
