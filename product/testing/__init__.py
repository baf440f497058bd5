"""Reusable test code of the catalog (not collected as tests itself).

- `product.testing.fixtures`: `make_product`, and the bulk-load threshold every test starts
  with; registered once by the root conftest.py (`pytest_plugins`).
- `product.testing.indexes`: the product table's indexes as PostgreSQL reports them
  (snapshots, repairs, recorded drops) for the bulk-load tests of product and import_manager.
"""
