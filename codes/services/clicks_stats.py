"""Per-link click statistics: clicks per day, unique visitors, referrers, devices; bots
counted apart (never mixed into the people's figures)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from codes.models import Link, LinkClick

DEFAULT_DAYS = 30
TOP = 20


def day_range(since: date | None, until: date | None) -> tuple[date, date]:
    """[since, until] inclusive, UTC days; by default the last DEFAULT_DAYS days."""
    until = until or timezone.now().date()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    return since, until


def link_stats(link: Link, since: date | None = None, until: date | None = None) -> dict:
    """The link's clicks between two UTC days (inclusive). Unique visitors are distinct
    visitor hashes; with the daily salt (the default) a visitor counts once per day."""
    since, until = day_range(since, until)
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    clicks = LinkClick.objects.filter(link=link, clicked_at__gte=start, clicked_at__lt=end)
    people = clicks.filter(is_bot=False)
    totals = clicks.aggregate(
        clicks=Count("pk", filter=Q(is_bot=False)),
        bot_clicks=Count("pk", filter=Q(is_bot=True)),
        unique_visitors=Count("visitor", filter=Q(is_bot=False), distinct=True),
    )
    per_day = {
        row["day"]: row
        for row in clicks.annotate(day=TruncDate("clicked_at", tzinfo=UTC))
        .values("day")
        .annotate(
            clicks=Count("pk", filter=Q(is_bot=False)),
            unique_visitors=Count("visitor", filter=Q(is_bot=False), distinct=True),
            bot_clicks=Count("pk", filter=Q(is_bot=True)),
        )
        .order_by("day")
    }
    days = []
    day = since
    while day <= until:
        row = per_day.get(day, {})
        days.append(
            {
                "date": day.isoformat(),
                "clicks": row.get("clicks", 0),
                "unique_visitors": row.get("unique_visitors", 0),
                "bot_clicks": row.get("bot_clicks", 0),
            }
        )
        day += timedelta(days=1)
    return {
        "short_id": link.short_id,
        "from": since.isoformat(),
        "to": until.isoformat(),
        **totals,
        "all_time": {"clicks": link.human_clicks, "bot_clicks": link.bot_clicks},
        "per_day": days,
        "referrers": _top(people, "referrer_host", empty="(direct)"),
        "devices": _top(people, "device_type"),
        "browsers": _top(people, "browser", empty="(unknown)"),
        "os": _top(people, "os", empty="(unknown)"),
        "bots": _top(clicks.filter(is_bot=True), "browser", empty="(no user agent)"),
    }


def _top(queryset, field: str, empty: str = "") -> list[dict]:
    rows = queryset.values(field).annotate(clicks=Count("pk")).order_by("-clicks", field)[:TOP]
    return [{"name": row[field] or empty, "clicks": row["clicks"]} for row in rows]


def daily_clicks(link: Link, days: int = DEFAULT_DAYS) -> list[tuple[date, int, int]]:
    """(day, people's clicks, bot clicks) for the last `days` UTC days (the admin chart)."""
    stats = link_stats(link, timezone.now().date() - timedelta(days=days - 1))
    return [
        (date.fromisoformat(row["date"]), row["clicks"], row["bot_clicks"])
        for row in stats["per_day"]
    ]
