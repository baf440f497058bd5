"""API routes of the codes app (included under /api/ and /api/v1/ by config/urls.py)."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("codes.urls_email")),
    path("", include("codes.urls_links")),
]
