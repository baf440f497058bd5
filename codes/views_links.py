"""Short links: the API (create, list, change, stats) and the public redirect.

The redirect (`/l/<short_id>`, `/api/links/<short_id>/redirect`) is a plain Django view,
public, with no authentication or throttling. Under ASGI most hits never reach it: the fast
path in codes/asgi_links.py answers cached links first; this view answers the rest (and
everything under WSGI or the test client) the same way.
"""

import time

import redis
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from codes.asgi_links import REDIRECT_HEADERS
from codes.filters_links import LinkFilter
from codes.models import Link
from codes.serializers_links import (
    LinkCreateSerializer,
    LinkSerializer,
    LinkStatsQuerySerializer,
    LinkUpdateSerializer,
)
from codes.services import clicks, links, links_cache
from codes.services.clicks_stats import link_stats
from core.api.errors import error_body
from core.api.serializers import ErrorSerializer

# --- the public redirect -----------------------------------------------------------------


@require_safe
def redirect_link(request, short_id):
    """302 to the link's destination (the click recorded), 404 unknown, 410 expired or
    disabled (or 302 to the link's expiry URL)."""
    now = time.time()
    counted = request.method == "GET"
    click = clicks.click_payload(
        short_id,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        referrer=request.META.get("HTTP_REFERER", ""),
        now=now,
    )
    queue_up = True
    if counted:
        try:
            record = links_cache.visit(short_id, click, now)
        except redis.RedisError:
            record, queue_up = None, False
        if record is not None and not record.expired(now):
            return _redirect(record.location)
    resolution = links.resolve_from_database(short_id, now)
    if resolution.status == 302:
        if counted and resolution.followed:
            _count(click, queue_up)
        return _redirect(resolution.location)
    return _unavailable(request, resolution.status)


def _count(click: str, queue_up: bool) -> None:
    if queue_up:
        try:
            links_cache.push_click(click)
            return
        except redis.RedisError:
            pass
    clicks.record_click_now(click)  # Redis is down: the click is stored at once


def _redirect(location: str) -> HttpResponse:
    response = HttpResponseRedirect(location)
    for name, value in REDIRECT_HEADERS.items():
        response[name] = value
    return response


_PAGES = {
    404: ("Link not found", "This short link does not exist."),
    410: ("Link expired", "This short link has expired or was switched off."),
}


def _unavailable(request, status_code: int) -> HttpResponse:
    title, message = _PAGES[status_code]
    if request.path.startswith("/api/"):
        code = "not_found" if status_code == 404 else "link_gone"
        response = JsonResponse(error_body(code, message), status=status_code)
    else:
        response = render(
            request,
            "codes/link_unavailable.html",
            {"title": title, "message": message},
            status=status_code,
        )
    for name, value in REDIRECT_HEADERS.items():
        response[name] = value
    return response


# --- the API -----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Short links, newest first"),
    retrieve=extend_schema(summary="One short link (by its short id, any case)"),
    destroy=extend_schema(summary="Delete a short link and its clicks"),
)
class LinkViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Short links with UTM parameters and click tracking (seed 003: POST /links)."""

    queryset = Link.objects.select_related("code")
    serializer_class = LinkSerializer
    lookup_field = "short_id"
    lookup_value_regex = "[A-Za-z0-9_-]{1,64}"
    search_fields = ["short_id", "title", "target_url", "utm_campaign"]
    ordering_fields = ["created_at", "clicks", "last_clicked_at", "short_id"]
    ordering = ["-created_at", "-id"]
    filterset_class = LinkFilter

    def get_object(self):
        found = links.find_link(self.kwargs["short_id"])
        if found is None:
            get_object_or_404(Link, pk=None)
        self.check_object_permissions(self.request, found)
        return found

    @extend_schema(
        summary="Create a short link",
        description=(
            "`url`: the target (http/https only, no credentials). UTM parameters are merged "
            "into its query string on redirect (an existing one of the same name is "
            "replaced, never duplicated). `slug`: a custom short id (409 when taken, in any "
            "case). Answers `short_id`, `short_url` and `url` (the destination)."
        ),
        request=LinkCreateSerializer,
        responses={201: LinkSerializer, 409: ErrorSerializer},
    )
    def create(self, request):
        serializer = LinkCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "code" in data:
            data["code"] = links.promoted_code(data["code"])
        link = links.create_link(
            url=data.pop("url"),
            slug=data.pop("slug", ""),
            expired_url=data.pop("expired_url", ""),
            owner=request.user,
            **data,
        )
        return Response(
            LinkSerializer(link, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Change a short link (target, UTM, expiry, on/off)",
        request=LinkUpdateSerializer,
        responses={200: LinkSerializer},
    )
    def partial_update(self, request, short_id=None):
        link = self.get_object()
        serializer = LinkUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "code" in changes:
            changes["code"] = links.promoted_code(changes["code"])
        links.update_link(link, **changes)
        return Response(LinkSerializer(link, context={"request": request}).data)

    def perform_destroy(self, instance):
        links.delete_link(instance)

    @extend_schema(
        summary="Click statistics of a link",
        description=(
            "Between `from` and `to` (UTC dates, inclusive; default the last 30 days): "
            "clicks per day, unique visitors, referrers, devices, browsers and OS of people; "
            "bots counted apart. Clicks appear within a few seconds (they are written in "
            "batches)."
        ),
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (YYYY-MM-DD)."),
        ],
        responses={200: dict},
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, short_id=None):
        link = self.get_object()
        # An empty parameter (`?from=`) is one not given, as for every list filter.
        given = {key: value for key, value in request.query_params.items() if value != ""}
        query = LinkStatsQuerySerializer(data=given)
        query.is_valid(raise_exception=True)
        return Response(
            link_stats(link, query.validated_data.get("from"), query.validated_data.get("to"))
        )
