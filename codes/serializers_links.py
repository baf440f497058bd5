"""API serializers of the short links."""

from rest_framework import serializers

from codes.models import Link
from codes.services import links as link_service
from core.api.serializers import StrictModelSerializer, StrictSerializer


class LinkSerializer(StrictModelSerializer):
    short_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(
        help_text="Where the link sends visitors: the target with the UTM parameters merged in."
    )
    human_clicks = serializers.IntegerField(read_only=True)
    code = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Link
        fields = [
            "id",
            "short_id",
            "short_url",
            "url",
            "target_url",
            "title",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "expires_at",
            "expired_url",
            "is_active",
            "code",
            "clicks",
            "human_clicks",
            "bot_clicks",
            "last_clicked_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_short_url(self, link) -> str:
        return link_service.short_url(link, self.context.get("request"))

    def get_url(self, link) -> str:
        return link_service.destination_url(link)


class LinkCreateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2000, help_text="The target URL (http or https).")
    slug = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="A custom short id."
    )
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_medium = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_campaign = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_term = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_content = serializers.CharField(required=False, allow_blank=True, max_length=200)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    expired_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    code = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="A code this link promotes."
    )


class LinkUpdateSerializer(StrictSerializer):
    url = serializers.CharField(required=False, max_length=2000)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_medium = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_campaign = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_term = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_content = serializers.CharField(required=False, allow_blank=True, max_length=200)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    expired_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    is_active = serializers.BooleanField(required=False)
    code = serializers.CharField(required=False, allow_blank=True, max_length=200)


class LinkStatsQuerySerializer(StrictSerializer):
    # `from` is a Python keyword: the field is declared under its query name below.
    to = serializers.DateField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(required=False)
        return fields

    def validate(self, attrs):
        since, until = attrs.get("from"), attrs.get("to")
        if since and until and since > until:
            raise serializers.ValidationError({"from": ["After `to`."]})
        if since and until and (until - since).days > 366:
            raise serializers.ValidationError({"from": ["At most 366 days at once."]})
        return attrs
