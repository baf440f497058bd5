"""What the catalog shows on the operator console's home page (core.services.console)."""

from core.services import console
from product.services.dashboard import catalog_counts

PRODUCTS = "admin:product_product_changelist"


def catalog_figures(user) -> list[console.Figure]:
    """All products and the active ones: the dashboard's aggregate, one query."""
    counts = catalog_counts()
    return [
        console.Figure("products", "Products", counts["total_products"], PRODUCTS),
        console.Figure(
            "active_products",
            "Active products",
            counts["active_products"],
            PRODUCTS,
            {"is_active__exact": "1"},
        ),
    ]


def register_console() -> None:
    console.register_figures(
        "product.catalog", catalog_figures, permission="product.view_product", order=10
    )
