from rest_framework import serializers

from core.api.serializers import StrictSerializer

from .services.parsers import FORMATS


class UploadImportSerializer(StrictSerializer):
    type_strict = False  # a multipart form: every value is text (`dry_run=true`)
    file = serializers.FileField(help_text="CSV, XLSX, JSON (array / JSON Lines) or XML file.")
    dry_run = serializers.BooleanField(
        default=False, help_text="Validate and count without writing products."
    )


class UrlImportSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2048, help_text="http(s) URL of a product feed.")
    format = serializers.ChoiceField(
        choices=FORMATS,
        required=False,
        allow_null=True,
        help_text="The feed's format when its URL and Content-Type do not tell.",
    )
    dry_run = serializers.BooleanField(default=False)


class ImportStartedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    message = serializers.CharField(
        help_text='"Upload started successfully" (a feed URL: "Import started successfully").'
    )
    status = serializers.CharField()
    filename = serializers.CharField()
    status_url = serializers.CharField()


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="Data record number, from 1.")
    column = serializers.CharField()
    message = serializers.CharField()
    value = serializers.CharField()


class ImportSerializer(serializers.Serializer):
    """An import as the import API shows it (built by services.reports.import_report)."""

    job_id = serializers.UUIDField()
    filename = serializers.CharField()
    format = serializers.CharField()
    source = serializers.CharField()
    source_url = serializers.CharField()
    dry_run = serializers.BooleanField()
    status = serializers.CharField()
    phase = serializers.CharField()
    progress = serializers.IntegerField()
    total_rows = serializers.IntegerField(
        allow_null=True, help_text="Known once the whole file was read."
    )
    processed_rows = serializers.IntegerField()
    success_count = serializers.IntegerField()
    error_count = serializers.IntegerField(help_text="All rejected rows (errors keeps 1,000).")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    error = serializers.CharField(help_text="Why the import failed or was cancelled.")
    attempts = serializers.IntegerField(
        help_text="Attempts it took: more than one when a lost worker's import was re-run."
    )
    interruptions = serializers.ListField(
        child=serializers.DictField(),
        help_text="Each interrupted attempt: attempt, at, phase, worker, reason, outcome.",
    )
    errors = ImportRowErrorSerializer(many=True, required=False)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
