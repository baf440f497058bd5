import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models

# CREATE INDEX CONCURRENTLY keeps the catalog writable while a large table is indexed. It
# cannot run in a transaction, so a failure part-way leaves some indexes built and the
# migration unrecorded: IF NOT EXISTS lets the re-run pick up where it stopped.
INDEXES = [
    (
        "product_sku_trgm",
        'USING gin ("sku" gin_trgm_ops)',
        django.contrib.postgres.indexes.GinIndex(
            fields=["sku"], name="product_sku_trgm", opclasses=["gin_trgm_ops"]
        ),
    ),
    (
        "product_name_lower_id",
        '((LOWER("name")), "id")',
        models.Index(
            django.db.models.functions.text.Lower("name"), "id", name="product_name_lower_id"
        ),
    ),
    (
        "product_stock_id",
        '("stock_quantity", "id")',
        models.Index(fields=["stock_quantity", "id"], name="product_stock_id"),
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("product", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "product_product" {sql}',
                    reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"',
                )
            ],
            state_operations=[migrations.AddIndex(model_name="product", index=index)],
        )
        for name, sql, index in INDEXES
    ]
