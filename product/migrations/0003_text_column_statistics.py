from django.db import migrations

COLUMNS = ("name", "sku", "description")


def alter(target):
    columns = ", ".join(f"ALTER COLUMN {column} SET STATISTICS {target}" for column in COLUMNS)
    return f"ALTER TABLE product_product {columns}"


class Migration(migrations.Migration):
    """Finer statistics for the substring-filtered columns.

    The planner estimates `name ILIKE '%…%'` from the column's histogram. With the default
    100 buckets a phrase matching 0.07% of 500k products was estimated at 1%, so page 1
    walked the primary key hoping to meet 50 matches early (60-110 ms) instead of using
    the trigram index (5-7 ms). 1000 buckets fixed the estimates; ANALYZE reads a larger
    sample in exchange (about 7 s instead of 1 s at 500k rows).
    """

    dependencies = [
        ("product", "0002_search_and_sort_indexes"),
    ]

    operations = [
        migrations.RunSQL(alter(1000), reverse_sql=alter(-1)),
    ]
