from django.apps import AppConfig


class CodesConfig(AppConfig):
    """Discount and access codes, bulk code jobs, code emails and tracked short links."""

    name = "codes"
    verbose_name = "Codes"
    default_auto_field = "django.db.models.BigAutoField"
