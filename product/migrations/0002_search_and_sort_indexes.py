import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction; it keeps the catalog writable
    # while the indexes are built on a large table.
    atomic = False

    dependencies = [
        ("product", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="product",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["sku"], name="product_sku_trgm", opclasses=["gin_trgm_ops"]
            ),
        ),
        AddIndexConcurrently(
            model_name="product",
            index=models.Index(
                django.db.models.functions.text.Lower("name"), "id", name="product_name_lower_id"
            ),
        ),
        AddIndexConcurrently(
            model_name="product",
            index=models.Index(fields=["stock_quantity", "id"], name="product_stock_id"),
        ),
    ]
