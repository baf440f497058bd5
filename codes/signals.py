"""Signals the codes app sends (connect receivers in your AppConfig.ready()).

- `pool_low(sender=Code, code_type, available, low_water_mark)`: sent after commit when the
  codes a type has left to allocate fall below its low-water mark; once per shortage (again
  only after the pool was refilled to the mark). Also logged as a warning.
"""

from django.dispatch import Signal

pool_low = Signal()
