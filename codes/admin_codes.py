"""Codes, code types and batches in the operator console.

The code list searches by prefix (the unique index on lower(code) serves it), by exact
reference or campaign; filters by status, type, expiry and recent batch; shows how many
codes of each type are available, used and revoked; and has two actions: revoke (with a
reason, set-based through `codes.services.codes.revoke_codes`) and CSV export (streamed,
the selection or everything the filters match).
"""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.http import StreamingHttpResponse
from django.utils import timezone

from codes.models import Code, CodeBatch, CodeStatus, CodeType
from codes.services.codes import revoke_codes, update_code

EXPORT_COLUMNS = [
    "code",
    "code_type",
    "status",
    "discount_percent",
    "discount_amount",
    "campaign",
    "expires_at",
    "reference",
    "used_at",
    "revoked_at",
    "revoked_reason",
    "previous_code",
    "batch",
    "created_at",
]
EDITABLE_FIELDS = ["discount_percent", "discount_amount", "campaign", "expires_at"]
RECENT_BATCHES = 20
EXPORT_CHUNK = 5_000


class CodeActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason (revoke)",
        widget=forms.TextInput(attrs={"placeholder": "Reason, for revoke"}),
    )


class ExpiredFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return [("yes", "Expired"), ("no", "Not expired")]

    def queryset(self, request, queryset):
        expired = Q(expires_at__lte=timezone.now())
        if self.value() == "yes":
            return queryset.filter(expired)
        if self.value() == "no":
            return queryset.exclude(expired)
        return queryset


class BatchFilter(admin.SimpleListFilter):
    """The last batches that created codes (a full list of batches would be a long one)."""

    title = "batch"
    parameter_name = "batch"

    def lookups(self, request, model_admin):
        batches = CodeBatch.objects.filter(operation="create").order_by("-created_at")
        return [(str(b.pk), f"#{b.pk} {b.source}"[:60]) for b in batches[:RECENT_BATCHES]]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(batch_id=int(value))
        return queryset


class CodeAdminForm(forms.ModelForm):
    class Meta:
        model = Code
        fields = EDITABLE_FIELDS

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("discount_percent") is not None and (
            cleaned.get("discount_amount") is not None
        ):
            raise forms.ValidationError("Give a discount percent or an amount, not both.")
        return cleaned


@admin.register(Code)
class CodeAdmin(admin.ModelAdmin):
    form = CodeAdminForm
    action_form = CodeActionForm
    actions = ["revoke_selected", "export_csv"]
    list_display = [
        "code",
        "code_type",
        "status",
        "discount",
        "campaign",
        "expires_at",
        "reference",
        "used_at",
        "batch",
    ]
    list_filter = ["status", "code_type", ExpiredFilter, BatchFilter]
    search_fields = ["code"]  # the search itself is get_search_results'
    search_help_text = "Code prefix (any letter case), or an exact reference or campaign."
    list_select_related = ["batch"]
    list_per_page = 100
    # The "N total" figure would be a second COUNT(*) over millions of codes on each view.
    show_full_result_count = False
    readonly_fields = [
        "code",
        "code_type",
        "status",
        "reference",
        "used_at",
        "used_by",
        "revoked_at",
        "revoked_by",
        "revoked_reason",
        "previous_code",
        "batch",
        "metadata",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["code", "code_type", "status", *EDITABLE_FIELDS]}),
        ("Use", {"fields": ["reference", "used_at", "used_by", "metadata"]}),
        ("Revocation", {"fields": ["revoked_at", "revoked_by", "revoked_reason"]}),
        (
            "History",
            {
                "fields": [
                    "previous_code",
                    "batch",
                    "created_by",
                    "updated_by",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]

    @admin.display(description="discount")
    def discount(self, code: Code) -> str:
        if code.discount_percent is not None:
            return f"{code.discount_percent}%"
        if code.discount_amount is not None:
            return str(code.discount_amount)
        return "-"

    def has_add_permission(self, request):
        # New codes come from the API (POST /api/codes) or create-codes (files, patterns).
        return False

    def has_delete_permission(self, request, obj=None):
        # A code handed out stays on record; revoke it instead.
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(code_lower__startswith=term.lower()) | Q(reference=term) | Q(campaign=term)
        return queryset.alias(code_lower=Lower("code")).filter(matches), False

    def save_model(self, request, obj, form, change):
        stored = Code.objects.get(pk=obj.pk)
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        update_code(stored, values, actor=request.user)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "type_counts": type_counts()}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Revoke selected codes", permissions=["change"])
    def revoke_selected(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        count = revoke_codes(queryset, reason=reason, actor=request.user)
        self.message_user(
            request,
            f"{count:,} codes revoked" + (f" ({reason})." if reason else "."),
            messages.SUCCESS,
        )

    @admin.action(description="Export selected codes as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(
            export_rows(queryset), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="codes-{stamp}.csv"'
        return response


class _Echo:
    def write(self, value):
        return value


def export_rows(queryset):
    """The CSV lines of `queryset`'s codes (header first), read in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    names = [
        name if name not in ("code_type", "batch") else f"{name}_id" for name in EXPORT_COLUMNS
    ]
    rows = queryset.order_by("id").values_list(*names).iterator(chunk_size=EXPORT_CHUNK)
    for row in rows:
        yield writer.writerow(
            [
                ""
                if value is None
                else (value.isoformat() if hasattr(value, "isoformat") else value)
                for value in row
            ]
        )


def type_counts() -> list[dict]:
    """Codes per type and status (one GROUP BY over the (code_type, status) index)."""
    found = Code.objects.order_by().values_list("code_type_id", "status").annotate(n=Count("id"))
    counts: dict[str, dict] = {}
    for code_type, status, n in found:
        entry = counts.setdefault(
            code_type, {"code_type": code_type, **{s: 0 for s in CodeStatus.values}}
        )
        entry[status] = n
    for entry in counts.values():
        entry["total"] = sum(entry[s] for s in CodeStatus.values)
    return [counts[slug] for slug in sorted(counts)]


@admin.register(CodeType)
class CodeTypeAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "default_discount_percent",
        "low_water_mark",
        "shopify_discount_id",
        "pool_low_since",
    ]
    search_fields = ["slug", "name"]
    readonly_fields = ["pool_low_since", "created_at", "updated_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # its codes keep it (PROTECT)


@admin.register(CodeBatch)
class CodeBatchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "operation",
        "source",
        "dry_run",
        "total_rows",
        "counts",
        "applied_at",
        "created_by",
        "created_at",
    ]
    list_filter = ["operation", "dry_run"]
    search_fields = ["source"]
    list_select_related = ["created_by"]

    def has_add_permission(self, request):
        return False  # batches are started by the automation endpoints

    def has_change_permission(self, request, obj=None):
        return False
