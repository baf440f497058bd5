"""Thin Celery tasks of the short links (listed in CELERY_IMPORTS: the module is not tasks.py)."""

from dataclasses import asdict

from celery import shared_task

from codes.services import clicks


@shared_task(name="codes.tasks_links.write_clicks", ignore_result=True)
def write_clicks() -> dict:
    """Beat, every second: store the clicks waiting in the Redis queue, in batches."""
    return asdict(clicks.write_clicks())
