"""Request and response shapes of the scripts API."""

from rest_framework import serializers

from core.api.serializers import StrictSerializer

from .services.registry import CATEGORIES


class ParameterValueSerializer(StrictSerializer):
    name = serializers.CharField(max_length=64)
    value = serializers.JSONField(required=False, allow_null=True)
    # Optional; when given it must name the parameter's type: seed 000's word (file, string,
    # integer, boolean, ...) or an alias (checked by the one validation path, which reports a
    # mismatch under the parameter's name).
    type = serializers.CharField(max_length=32, required=False, allow_blank=True)


class ExecuteScriptSerializer(StrictSerializer):
    script_name = serializers.CharField(max_length=64)
    parameters = serializers.ListField(
        child=ParameterValueSerializer(), required=False, default=list, max_length=200
    )


class ExecuteResponseSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    message = serializers.CharField()
    script_name = serializers.CharField()


class CredentialStatusSerializer(serializers.Serializer):
    name = serializers.CharField()
    required = serializers.BooleanField()
    configured = serializers.BooleanField()


class LimitsSerializer(serializers.Serializer):
    cpu_seconds = serializers.IntegerField()
    memory_mb = serializers.IntegerField()
    file_size_mb = serializers.IntegerField()
    open_files = serializers.IntegerField()


class ParameterBriefSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="file, directory, string, integer, boolean, ...")
    required = serializers.BooleanField()


class ScriptSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    category = serializers.CharField()
    description = serializers.CharField()
    is_workflow = serializers.BooleanField()
    timeout_seconds = serializers.FloatField()
    limits = LimitsSerializer()
    credentials = CredentialStatusSerializer(many=True)
    parameter_count = serializers.IntegerField()
    parameters = ParameterBriefSerializer(many=True)


class ScriptListSerializer(serializers.Serializer):
    """Seed 000's shape: one key per category, each a list of scripts."""

    def get_fields(self):
        return {
            key: ScriptSummarySerializer(many=True, label=label)
            for key, label in CATEGORIES.items()
        }


class ParameterDescriptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    label = serializers.CharField()
    help = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)


class ScriptDetailSerializer(ScriptSummarySerializer):
    """Each parameter also carries its type's constraints (min/max, choices, kind,
    output_default, free_text, ...)."""

    category_label = serializers.CharField()
    parameters = ParameterDescriptionSerializer(many=True)
    schema = serializers.DictField(help_text="JSON schema (2020-12) of the parameters.")
