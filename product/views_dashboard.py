"""GET /api/dashboard/stats: the operator dashboard's figures."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.serializers import ErrorSerializer
from product.serializers import DashboardStatsSerializer
from product.services.dashboard import dashboard_stats


class DashboardStatsView(APIView):
    """Products (total, active), catalog imports of the last 7 days, enabled webhooks and
    webhook deliveries (succeeded, failed). Any signed-in role may read it."""

    @extend_schema(responses={200: DashboardStatsSerializer, 403: ErrorSerializer})
    def get(self, request):
        return Response(DashboardStatsSerializer(dashboard_stats()).data)
