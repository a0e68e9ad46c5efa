from django import template

from videos.dashboard import dashboard_data

register = template.Library()


@register.inclusion_tag("admin/veo_dashboard.html")
def veo_dashboard():
    return dashboard_data()
