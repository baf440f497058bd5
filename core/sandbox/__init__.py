"""The child side of the sandbox (see core.services.sandbox for the worker side).

Django-free on purpose: these modules run inside the sandboxed child, which never configures
Django (it has no database password or secret key).
"""
