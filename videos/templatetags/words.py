"""Template filters for people's words (see videos/words.py)."""

from django import template

from videos import words

register = template.Library()


@register.filter
def model_name(code: str) -> str:
    return words.model_name(code)


@register.filter
def type_name(code: str) -> str:
    return words.type_name(code)


@register.filter
def price_name(price) -> str:
    return words.price_name(price.code, price.label)


@register.filter
def ledger_description(entry) -> str:
    return words.ledger_description(entry)


@register.filter
def job_error(job) -> str:
    """The job's failure reason in the reader's language."""
    return words.reason(job.error_message, job.language)


@register.filter
def upgrade_error(upgrade, job) -> str:
    """An upgrade's failure reason in the reader's language."""
    return words.reason(upgrade.error, job.language)
