"""Product change events for other apps (webhooks, ...).

Sent by the product services after the transaction commits, for manual changes (API,
admin) only, never per row of a bulk import. Receivers get `product` (created/updated) or
`product_data` (a dict snapshot, for deleted) and `changes` (updated: field names).
"""

from django.dispatch import Signal

product_created = Signal()  # kwargs: product
product_updated = Signal()  # kwargs: product, changes
product_deleted = Signal()  # kwargs: product_data
