from .product import Product
from .suspended_index import SuspendedIndex

__all__ = ["Product", "SuspendedIndex"]
