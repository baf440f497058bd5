"""Operator console for the inbound inbox: every received event, and replays."""

from django.contrib import admin, messages

from core.exceptions import PlatformError
from webhook.models import InboundEvent, InboundStatus
from webhook.services.inbox import replay_event


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "received_at",
        "source",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "duplicates",
        "error_code",
    ]
    list_filter = ["status", "source", "event_type"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"
    actions = ["replay_selected"]
    readonly_fields = [f.name for f in InboundEvent._meta.fields]

    def has_add_permission(self, request):
        return False  # events come from their senders

    def has_change_permission(self, request, obj=None):
        return False  # a log: read-only (replay is an action)

    @admin.action(description="Replay selected failed or ignored events")
    def replay_selected(self, request, queryset):
        processed, failed, skipped = 0, [], []
        replayable = queryset.filter(status__in=[InboundStatus.FAILED, InboundStatus.IGNORED])
        for pk in replayable.values_list("pk", flat=True):
            try:
                receipt = replay_event(pk, user=request.user)
            except PlatformError as exc:
                skipped.append(f"#{pk}: {exc.message}")
                continue
            if receipt.failure is not None:
                failed.append(f"#{pk}: {receipt.event.error}")
            elif receipt.event.status == InboundStatus.PROCESSED:
                processed += 1
            else:
                skipped.append(f"#{pk}: still {receipt.event.status}")
        if processed:
            self.message_user(request, f"{processed} events processed.", messages.SUCCESS)
        if failed:
            self.message_user(request, "Failed again: " + "; ".join(failed), messages.ERROR)
        if skipped:
            self.message_user(request, "Not processed: " + "; ".join(skipped), messages.WARNING)
        if not (processed or failed or skipped):
            self.message_user(request, "No failed or ignored event was selected.", messages.WARNING)
