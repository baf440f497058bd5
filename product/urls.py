from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from product.views import ProductViewSet
from product.views_dashboard import DashboardStatsView

# "/?": both /api/products/bulk-price-update and .../bulk-price-update/ work, as in core.
router = SimpleRouter(trailing_slash="/?")
router.register("products", ProductViewSet, basename="product")

urlpatterns = [
    re_path(r"^dashboard/stats/?$", DashboardStatsView.as_view(), name="dashboard-stats"),
    path("", include(router.urls)),
]
