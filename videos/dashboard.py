"""The operator dashboard on the admin index: figures and server-rendered
SVG charts, read from the jobs, the ledger and the balance readings."""

from datetime import timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django_q.brokers import get_broker

from billing.models import LedgerEntry, ProviderBalance
from billing.selectors import breaker_state, money_by_day, shortfall_total

from .models import Job


def dashboard_data(now=None) -> dict:
    now = now or timezone.now()
    per_status = dict(Job.objects.values("status").annotate(n=Count("id")).values_list("status", "n"))
    week = Job.objects.filter(finished_at__gte=now - timedelta(days=7))
    done = dict(week.values("status").annotate(n=Count("id")).values_list("status", "n"))
    finished = done.get("succeeded", 0) + done.get("failed", 0)
    days = [(now - timedelta(days=13 - i)).date() for i in range(14)]
    spend = dict(
        LedgerEntry.objects.filter(kind__in=("charge", "refund"), created_at__gte=now - timedelta(days=14))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(s=Sum("provider_credits"))
        .values_list("day", "s")
    )
    balances = list(
        ProviderBalance.objects.filter(credits__isnull=False).order_by("-id").values_list("checked_at", "credits")[:48]
    )[::-1]
    return {
        "per_status": [(label, per_status.get(value, 0), value) for value, label in Job.Status.choices],
        "success_rate": round(100 * done.get("succeeded", 0) / finished) if finished else None,
        "finished_week": finished,
        "spend_chart": svg_bars([(d.strftime("%m-%d"), spend.get(d, 0) or 0) for d in days]),
        "spend_total": sum(v or 0 for v in spend.values()),
        "balance_chart": svg_line([c for _, c in balances]) if len(balances) > 1 else "",
        "balance_latest": balances[-1][1] if balances else None,
        "breaker": breaker_state(),
        "queue_depth": queue_depth(),
        "waiting_for_slot": Job.objects.filter(status="queued", dispatched_at__isnull=True).count(),
        # Money in beside provider spend (billing computes both from its records).
        "money_days": money_by_day(days=14, now=now)[::-1],
        "shortfall_total": shortfall_total(),
    }


def queue_depth() -> int | None:
    """Tasks waiting in django-q2's broker (None if it cannot be read)."""
    try:
        return get_broker().queue_size()
    except Exception:  # noqa: BLE001 - a dashboard must render whatever the broker does
        return None


WIDTH, HEIGHT, PAD = 560, 160, 24


def svg_bars(points: list[tuple[str, int]]) -> str:
    """A bar chart: one bar a point, labelled every other point."""
    top = max([v for _, v in points] + [1])
    step = (WIDTH - PAD) / len(points)
    parts = []
    for i, (label, value) in enumerate(points):
        h = (HEIGHT - 2 * PAD) * value / top
        x = PAD + i * step
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{step - 4:.1f}" height="{h:.1f}" fill="#6a4cff">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        if i % 2 == 0:
            middle = x + step / 2
            parts.append(
                f'<text x="{middle:.1f}" y="{HEIGHT - 6}" font-size="10" text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(f'<text x="2" y="12" font-size="10">{top}</text>')
    return _svg(parts, "Provider credits spent per day")


def svg_line(values: list[int]) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = (WIDTH - PAD) / (len(values) - 1)
    coords = " ".join(
        f"{PAD + i * step:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - low) / span:.1f}" for i, v in enumerate(values)
    )
    parts = [
        f'<polyline points="{coords}" fill="none" stroke="#21a1d6" stroke-width="2"/>',
        f'<text x="2" y="12" font-size="10">{high}</text>',
        f'<text x="2" y="{HEIGHT - PAD}" font-size="10">{low}</text>',
    ]
    return _svg(parts, "Provider balance, latest readings")


def _svg(parts: list[str], title: str) -> str:
    return mark_safe(  # noqa: S308 - every interpolated label is escaped above
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
