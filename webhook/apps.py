from django.apps import AppConfig


class WebhookConfig(AppConfig):
    name = "webhook"
    default_auto_field = "django.db.models.BigAutoField"
