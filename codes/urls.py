"""API routes of the codes app (included under /api/ and /api/v1/ by config/urls.py)."""

urlpatterns: list = []
