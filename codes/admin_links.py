"""Short links in the operator console, each with its click chart (last 30 days)."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from codes.models import Link, LinkClick
from codes.services import links
from codes.services.clicks_stats import daily_clicks

CHART_DAYS = 30
BAR_WIDTH, BAR_GAP, CHART_HEIGHT = 12, 3, 90


def click_chart_svg(days: list) -> str:
    """An inline SVG bar chart: people's clicks per day (bots stacked on top, lighter)."""
    peak = max((people + bots for _, people, bots in days), default=0) or 1
    scale = (CHART_HEIGHT - 14) / peak
    bars = []
    for index, (day, people, bots) in enumerate(days):
        x = index * (BAR_WIDTH + BAR_GAP)
        people_h, bots_h = people * scale, bots * scale
        bars.append(
            (
                f"{day.isoformat()}: {people} clicks, {bots} bots",
                x,
                f"{CHART_HEIGHT - people_h:.1f}",
                BAR_WIDTH,
                f"{people_h:.1f}",
                x,
                f"{CHART_HEIGHT - people_h - bots_h:.1f}",
                BAR_WIDTH,
                f"{bots_h:.1f}",
            )
        )
    width = len(days) * (BAR_WIDTH + BAR_GAP)
    rects = format_html_join(
        "",
        '<g><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="#417690"/>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#c5d6e0"/></g>',
        bars,
    )
    return format_html(
        '<svg class="link-click-chart" width="{}" height="{}" role="img" '
        'aria-label="Clicks per day, last {} days">{}'
        '<text x="0" y="10" font-size="10" fill="#666">max {} / day</text></svg>',
        width,
        CHART_HEIGHT,
        len(days),
        rects,
        peak,
    )


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "title",
        "target_url",
        "utm_campaign",
        "is_active",
        "expires_at",
        "clicks",
        "bot_clicks",
        "last_clicked_at",
    ]
    list_filter = ["is_active", "utm_source", "utm_medium"]
    search_fields = ["short_id", "title", "target_url", "utm_campaign"]
    readonly_fields = [
        "click_chart",
        "destination",
        "clicks",
        "bot_clicks",
        "last_clicked_at",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fields = [
        "short_id",
        "title",
        "target_url",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "expires_at",
        "expired_url",
        "is_active",
        "destination",
        "click_chart",
        "clicks",
        "bot_clicks",
        "last_clicked_at",
        "created_by",
        "created_at",
        "updated_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        # The short id is printed and shared: it never changes once made.
        return [*self.readonly_fields, "short_id"] if obj else self.readonly_fields

    @admin.display(description="redirects to")
    def destination(self, obj):
        return links.destination_url(obj) if obj.pk else "-"

    @admin.display(description=f"clicks, last {CHART_DAYS} days")
    def click_chart(self, obj):
        if not obj.pk:
            return "-"
        return click_chart_svg(daily_clicks(obj, CHART_DAYS))

    def save_model(self, request, obj, form, change):
        links.validate_target_url(obj.target_url, "target_url")
        if obj.expired_url:
            links.validate_target_url(obj.expired_url, "expired_url")
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        links.refresh_after_commit(obj)

    def delete_model(self, request, obj):
        links.delete_link(obj)

    def delete_queryset(self, request, queryset):
        for link in queryset:
            links.delete_link(link)


@admin.register(LinkClick)
class LinkClickAdmin(admin.ModelAdmin):
    list_display = [
        "clicked_at",
        "link",
        "device_type",
        "browser",
        "os",
        "referrer_host",
        "is_bot",
    ]
    list_filter = ["is_bot", "device_type", "browser"]
    search_fields = ["link__short_id", "referrer_host"]
    list_select_related = ["link"]
    date_hierarchy = "clicked_at"
    readonly_fields = [f.name for f in LinkClick._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
