from django.urls import re_path

from .views import ScriptDetailView, ScriptExecuteView, ScriptListView

# Optional trailing slash, as the core router does (a POST never meets an APPEND_SLASH redirect).
urlpatterns = [
    re_path(r"^scripts/?$", ScriptListView.as_view(), name="script-list"),
    re_path(r"^scripts/execute/?$", ScriptExecuteView.as_view(), name="script-execute"),
    re_path(
        r"^scripts/(?P<script_name>[A-Za-z0-9_]{1,64})/?$",
        ScriptDetailView.as_view(),
        name="script-detail",
    ),
]
