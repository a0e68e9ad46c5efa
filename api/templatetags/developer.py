"""`{% load developer %}{% developer_tokens %}{% developer_webhook %}`: the
API token and webhook sections, for any account page to include without
knowing what they need (each loads its own data for the signed-in user)."""

from django import template

from api.account import developer_context

register = template.Library()


def _section(context) -> dict:
    data = developer_context(
        context["request"].user,
        token_form=context.get("token_form"),
        webhook_form=context.get("webhook_form"),
        new_token=context.get("new_token", ""),
    )
    data["csrf_token"] = context.get("csrf_token")
    return data


@register.inclusion_tag("api/_tokens.html", takes_context=True)
def developer_tokens(context) -> dict:
    return _section(context)


@register.inclusion_tag("api/_webhook.html", takes_context=True)
def developer_webhook(context) -> dict:
    return _section(context)
