"""Generate a product catalog CSV for the import benchmark.

    python bench/generate_catalog.py out.csv --rows 500000 --repeat 0.1

About 200 bytes a row (500,000 rows ≈ 100 MB). A fraction `repeat` of the rows reuse the SKU
of an earlier row in different letter case, so the importer's case-insensitive "last row
wins" rule is exercised; `expected_state` tells what the database must hold afterwards.
"""

from __future__ import annotations

import argparse
import csv
import random
from decimal import Decimal
from pathlib import Path

HEADER = ["sku", "name", "description", "price", "is_active", "category", "stock_quantity"]
WORDS = [
    "steel",
    "oak",
    "linen",
    "cotton",
    "walnut",
    "brass",
    "ceramic",
    "wool",
    "cedar",
    "copper",
    "glass",
    "leather",
    "bamboo",
    "marble",
    "velvet",
    "maple",
    "slate",
    "jute",
    "canvas",
    "pine",
    "silk",
    "bronze",
    "cork",
    "granite",
    "rattan",
    "felt",
]
NOUNS = [
    "chair",
    "lamp",
    "table",
    "shelf",
    "bowl",
    "vase",
    "mug",
    "rug",
    "desk",
    "stool",
    "mirror",
    "clock",
    "frame",
    "basket",
    "tray",
    "cushion",
    "throw",
    "planter",
    "bench",
    "cabinet",
]
CATEGORIES = ["furniture", "lighting", "kitchen", "decor", "textiles", "garden", "office"]


def _mixed_case(sku: str, rng: random.Random) -> str:
    """The same SKU in another letter case (never identical to the original)."""
    flipped = "".join(c.swapcase() if rng.random() < 0.5 else c for c in sku)
    return flipped if flipped != sku else sku.swapcase()


def generate(
    path: Path, rows: int, repeat: float = 0.1, seed: int = 42, price_shift: int = 0
) -> dict:
    """Write the CSV and return the expected final state: {lower(sku): (sku, name, price)}.

    The last row of a SKU (case-insensitively) wins, as the importer must apply it.
    `price_shift` (cents) gives the same catalog with every price changed.
    """
    rng = random.Random(seed)
    expected: dict[str, tuple[str, str, str]] = {}
    unique = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for _ in range(rows):
            if unique and rng.random() < repeat:
                base = f"SKU-{rng.randrange(unique):07d}-x"
                sku = _mixed_case(base, rng)
            else:
                sku = f"SKU-{unique:07d}-x"
                unique += 1
            material, noun = rng.choice(WORDS), rng.choice(NOUNS)
            name = f"{material.title()} {noun} {rng.randrange(1000)}"
            description = " ".join(rng.choice(WORDS) for _ in range(20))
            price = str(Decimal(rng.randrange(100, 99_999) + price_shift) / 100)
            row = [
                sku,
                name,
                f"A {material} {noun}: {description}.",
                price,
                "true" if rng.random() < 0.9 else "false",
                rng.choice(CATEGORIES),
                str(rng.randrange(500)),
            ]
            writer.writerow(row)
            expected[sku.lower()] = (sku, name, price)
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    expected = generate(args.path, args.rows, args.repeat, args.seed)
    size = args.path.stat().st_size
    print(f"{args.path}: {args.rows} rows, {len(expected)} distinct SKUs, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
