from django.apps import AppConfig


class WebhookConfig(AppConfig):
    name = "webhook"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from webhook import checks  # noqa: F401  (registers the system checks)
        from webhook.services.events import connect_receivers

        connect_receivers()

        from webhook.console import register_console

        register_console()  # failed deliveries on the operator console's home page
