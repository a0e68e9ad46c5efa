"""django-q2 entry points of the api app: each calls one function."""

from . import webhooks


def webhook_deliver(delivery_id: int) -> bool | None:
    return webhooks.webhook_deliver(delivery_id)


def webhooks_due() -> int:
    return webhooks.webhooks_due()


def housekeeping() -> dict[str, int]:
    return webhooks.webhooks_housekeeping()
