"""Product API: CRUD, bulk delete, bulk price update. Thin: the services do the work."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from core.api.serializers import ErrorSerializer
from core.serializers import JobSerializer
from product.filters import ProductFilter
from product.models import Product
from product.pagination import ProductPagination
from product.serializers import (
    BulkDeleteResultSerializer,
    BulkDeleteSerializer,
    BulkPriceUpdateResultSerializer,
    BulkPriceUpdateSerializer,
    ProductSerializer,
)
from product.services.bulk import request_bulk_price_update, request_delete_all_products
from product.services.catalog import create_product, delete_product, update_product

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer}


@extend_schema_view(
    list=extend_schema(responses={200: ProductSerializer(many=True), 400: ErrorSerializer}),
    create=extend_schema(responses={201: ProductSerializer, **ERRORS}),
    retrieve=extend_schema(responses={200: ProductSerializer, 404: ErrorSerializer}),
    update=extend_schema(responses={200: ProductSerializer, **ERRORS, 404: ErrorSerializer}),
    partial_update=extend_schema(
        responses={200: ProductSerializer, **ERRORS, 404: ErrorSerializer}
    ),
    destroy=extend_schema(responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer}),
)
class ProductViewSet(viewsets.ModelViewSet):
    """The catalog. Viewers read; operators change; only admins may delete everything.

    A SKU is unique regardless of letter case: a conflict is a 400 naming the other product.
    """

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    pagination_class = ProductPagination
    # Search and ordering are part of ProductFilter (trigram-indexed, validated), so the
    # project's default SearchFilter/OrderingFilter backends are not used here.
    filter_backends = [DjangoFilterBackend]
    action_roles = {"bulk_delete": "admin"}
    throttle_scopes = {"bulk_delete": "bulk", "bulk_price_update": "bulk"}

    def perform_create(self, serializer):
        serializer.instance = create_product(serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = update_product(serializer.instance, serializer.validated_data)

    def perform_destroy(self, instance):
        delete_product(instance)

    @extend_schema(
        # OpenAPI gives DELETE bodies no meaning, so the documented form is the query
        # parameter; a JSON body {"confirm": true} is accepted as well.
        parameters=[
            OpenApiParameter(
                "confirm",
                OpenApiTypes.STR,
                enum=["true"],
                required=True,
                description='Must be true (or send the JSON body {"confirm": true}).',
            )
        ],
        request=None,
        responses={
            200: OpenApiResponse(BulkDeleteResultSerializer, description="Deleted now."),
            202: OpenApiResponse(
                BulkDeleteResultSerializer, description="A job was started (large catalog)."
            ),
            **ERRORS,
        },
    )
    @action(detail=False, methods=["delete"], url_path="bulk-delete")
    def bulk_delete(self, request):
        """Delete every product. Needs confirm=true; a large catalog is deleted by a job."""
        confirmation = request.data if request.data else request.query_params
        BulkDeleteSerializer(data=confirmation).is_valid(raise_exception=True)
        return _outcome_response(request_delete_all_products(owner=request.user), "deleted")

    @extend_schema(
        request=BulkPriceUpdateSerializer,
        responses={
            200: OpenApiResponse(BulkPriceUpdateResultSerializer, description="Changed now."),
            202: OpenApiResponse(
                BulkPriceUpdateResultSerializer,
                description="A job was started (many matching products); its result holds "
                "the count.",
            ),
            **ERRORS,
            415: ErrorSerializer,
        },
    )
    # JSON only: a form-encoded body cannot carry the `filters` object (DRF reads a missing
    # one as {}), and an empty selection must never turn into the whole catalog.
    @action(
        detail=False, methods=["post"], url_path="bulk-price-update", parser_classes=[JSONParser]
    )
    def bulk_price_update(self, request):
        """Set, or change by a percentage or an amount, the price of every product matching
        `filters` (or of every product with `all: true`), in one statement; returns how many
        prices changed. JSON body only."""
        serializer = BulkPriceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcome = request_bulk_price_update(
            mode=data["mode"],
            value=data["value"],
            ending=data.get("ending"),
            filters=data.get("filters"),
            every_product=data["all"],
            owner=request.user,
        )
        return _outcome_response(outcome, "updated")


def _outcome_response(outcome, count_key: str) -> Response:
    """200 {count_key: n, job: null} when done in the request, 202 {count_key: null, job}."""
    if outcome.job is not None:
        body = {count_key: None, "job": JobSerializer(outcome.job).data}
        return Response(body, status=status.HTTP_202_ACCEPTED)
    return Response({count_key: outcome.rows, "job": None})
