from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """django.contrib.admin whose default site (`admin.site`) is the operator console."""

    default_site = "core.admin_site.ConsoleAdminSite"
