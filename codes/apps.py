from django.apps import AppConfig


class CodesConfig(AppConfig):
    """Discount and access codes, bulk code jobs, code emails and tracked short links."""

    name = "codes"
    verbose_name = "Codes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core.services.jobs import job_finished

        # A finished bulk job (whatever ended it) leaves no staging table behind.
        job_finished.connect(_drop_staging, dispatch_uid="codes.drop_staging")

        from .services.order_events import register_inbound_handlers

        register_inbound_handlers()  # Make.com's order.created (webhook inbox)


def _drop_staging(sender, job, **kwargs):
    from .services.batches import cleanup_finished_batch

    cleanup_finished_batch(job)
