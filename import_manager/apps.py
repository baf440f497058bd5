from django.apps import AppConfig


class ImportManagerConfig(AppConfig):
    name = "import_manager"
    default_auto_field = "django.db.models.BigAutoField"
