from django.urls import include, path, re_path

from core.api.routers import OptionalSlashRouter
from product.views import ProductViewSet
from product.views_dashboard import DashboardStatsView

# With or without the trailing slash (/api/products/bulk-price-update as the issue writes it).
router = OptionalSlashRouter()
router.register("products", ProductViewSet, basename="product")

urlpatterns = [
    re_path(r"^dashboard/stats/?$", DashboardStatsView.as_view(), name="dashboard-stats"),
    path("", include(router.urls)),
]
