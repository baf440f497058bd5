from django.apps import AppConfig


class ProductConfig(AppConfig):
    name = "product"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .console import register_console

        register_console()  # catalog figures on the operator console's home page
