"""Throttle sign-ups per client address (SIGNUPS_PER_IP_PER_HOUR).

Every attempt counts, the refused ones included, so that an address that
keeps trying stays refused. Insert-then-count is safe under concurrency:
of N simultaneous attempts, the one counted last sees all N rows, so no more
than the limit can ever be let through.
"""

import ipaddress
from datetime import timedelta

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from .models import SignupAttempt

WINDOW = timedelta(hours=1)


def client_address(request: HttpRequest) -> str:
    """The address Django sees (REMOTE_ADDR), or the one a configured trusted
    proxy reports (allauth's TRUSTED_PROXY_COUNT / TRUSTED_CLIENT_IP_HEADER),
    exactly as allauth's login throttle sees it. An IPv6 address stands for
    its /64 network, which one subscriber usually holds whole."""
    address = get_adapter(request).get_client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 6:
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False).network_address)
    return str(parsed)


def signup_attempt_allowed(request: HttpRequest) -> bool:
    """Record this attempt; True while the address is within its hourly limit."""
    limit = settings.SIGNUPS_PER_IP_PER_HOUR
    if not limit:
        return True
    address, now = client_address(request), timezone.now()
    SignupAttempt.objects.create(address=address)
    # Forget what no window can count any more (cheap: the index on created_at's pair).
    SignupAttempt.objects.filter(address=address, created_at__lt=now - 2 * WINDOW).delete()
    return SignupAttempt.objects.filter(address=address, created_at__gt=now - WINDOW).count() <= limit
