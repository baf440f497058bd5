"""`?ordering=` that refuses what it cannot honour: an unknown field is a 400 listing the
allowed ones (DRF's OrderingFilter drops it silently and sorts by the default), and the
document states the allowed fields as a pattern."""

import re

from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class StrictOrderingFilter(OrderingFilter):
    def _delegated(self, view) -> bool:
        # `ordering_fields = []`: the view's FilterSet sorts (its own `ordering` filter).
        return getattr(view, "ordering_fields", None) == []

    def get_ordering(self, request, queryset, view):
        if self._delegated(view):
            return self.get_default_ordering(view)
        raw = request.query_params.get(self.ordering_param, "")
        if raw == "":
            return self.get_default_ordering(view)
        fields = [term.strip() for term in raw.split(",")]
        allowed = sorted(
            name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
        )
        unknown = [field for field in fields if field.lstrip("-") not in allowed or not field]
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        f"Unknown ordering field(s): {', '.join(unknown) or '(empty)'}. "
                        f"Allowed: {', '.join(allowed)} (prefix - for descending)."
                    ]
                },
                code="invalid",
            )
        return fields

    def get_schema_operation_parameters(self, view):
        if self._delegated(view):
            return []
        parameters = super().get_schema_operation_parameters(view)
        try:
            queryset = view.get_queryset()
        except Exception:  # noqa: BLE001 - no request to build it with: no pattern documented
            queryset = getattr(view, "queryset", None)
        if queryset is None:
            return parameters
        allowed = sorted(name for name, _ in self.get_valid_fields(queryset, view, {}))
        if not allowed:
            return parameters
        choice = "|".join(re.escape(name) for name in allowed)
        for parameter in parameters:
            parameter["schema"]["pattern"] = rf"^-?(?:{choice})(?:,-?(?:{choice}))*$"
            parameter["description"] = f"Sort by {', '.join(allowed)} (prefix - for descending)."
        return parameters
