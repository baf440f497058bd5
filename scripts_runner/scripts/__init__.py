"""One module per registered script (modules starting with `_` are shared helpers).

Imported by the worker (registry) and by the sandboxed child: keep them Django-free at module
level; worker-only code imports Django inside `Script.prepare` / workflow steps.
"""
