"""Thin Celery tasks of the short links (listed in CELERY_IMPORTS: the module is not tasks.py)."""
