from django.apps import AppConfig


class ProductConfig(AppConfig):
    name = "product"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .console import register_console
        from .receivers import connect_receivers

        register_console()  # catalog figures on the operator console's home page
        connect_receivers()  # indexes restored after a job that died mid-load
