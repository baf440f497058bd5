"""Short-link routes (included by codes/urls.py); the public /l/<id> is in config/urls.py."""

from django.urls import include, path, re_path

from codes.views_links import LinkViewSet, redirect_link
from core.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("links", LinkViewSet, basename="link")

urlpatterns = [
    # Seed 003's path; public. Before the router, whose detail route would take "redirect".
    re_path(
        r"^links/(?P<short_id>[A-Za-z0-9_-]{1,64})/redirect/?$",
        redirect_link,
        name="link-redirect-api",
    ),
    path("", include(router.urls)),
]
