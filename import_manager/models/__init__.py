from .import_run import ImportRowError, ImportRun, ImportSource

__all__ = ["ImportRowError", "ImportRun", "ImportSource"]
