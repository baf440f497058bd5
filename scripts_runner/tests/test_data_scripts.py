"""filter_products, categorize_products, create_metafields and cleanup_duplicates on small
real files, each run as a job through the sandbox."""

import csv
import json
import os

import pytest
from PIL import Image, ImageDraw

from core.models import JobStatus
from product.models import Product
from scripts_runner.services.runs import InvalidScriptParameters, create_script_job

from .helpers import log_lines, run_script

pytestmark = [pytest.mark.django_db(transaction=True)]

PRODUCTS = [
    {
        "sku": "A-1",
        "name": "Trail running sneaker",
        "description": "Light shoe",
        "price": "89.90",
        "category": "",
        "color": "red",
        "weight_g": "310",
        "waterproof": "yes",
        "attributes": '{"material": "mesh", "sizes": [40, 41], "launch": "2024-03-01"}',
    },
    {
        "sku": "a-2",
        "name": "Leather backpack",
        "description": "Roomy bag for hiking",
        "price": "120.00",
        "category": "",
        "color": "brown",
        "weight_g": "950",
        "waterproof": "no",
        "attributes": '{"material": "leather"}',
    },
    {
        "sku": "B-7",
        "name": "Keychain backpack mini",
        "description": "Tiny",
        "price": "5.5",
        "category": "Gifts",
        "color": "blue",
        "weight_g": "20",
        "waterproof": "no",
        "attributes": "",
    },
    {
        "sku": "",
        "name": "No sku",
        "description": "",
        "price": "1",
        "category": "",
        "color": "",
        "weight_g": "",
        "waterproof": "",
        "attributes": "",
    },
    {
        "sku": "A-1",
        "name": "Duplicate sneaker",
        "description": "",
        "price": "1",
        "category": "",
        "color": "",
        "weight_g": "",
        "waterproof": "",
        "attributes": "",
    },
    {
        "sku": "C-9",
        "name": "Wool socks",
        "description": "Warm",
        "price": "9.99",
        "category": "",
        "color": "grey",
        "weight_g": "80.5",
        "waterproof": "no",
        "attributes": "",
    },
]


def write_csv(path, rows, delimiter=","):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def products_csv(data_dir):
    path = data_dir / "feed" / "products.csv"
    path.parent.mkdir()
    write_csv(path, PRODUCTS, delimiter=";")
    return path


# -- filter_products -------------------------------------------------------------------------


def test_filter_keeps_listed_skus_and_rejects_the_rest_with_reasons(data_dir, products_csv):
    (data_dir / "assortment.txt").write_text("# our range\na-1\nA-2\nX-404\n")
    job = run_script(
        "filter_products",
        {
            "input_file": "feed/products.csv",
            "reference": "sku_file",
            "sku_file": "assortment.txt",
            "output_file": "out/kept.csv",
        },
    )
    assert job.status == JobStatus.COMPLETED, job.error
    kept = read_csv(data_dir / "out" / "kept.csv")
    rejected = read_csv(data_dir / "out" / "kept.rejected.csv")
    assert [row["sku"] for row in kept] == ["A-1", "a-2"]  # SKUs compare case-insensitively
    assert kept[0]["attributes"] == PRODUCTS[0]["attributes"]
    assert [(row["sku"], row["reject_reason"]) for row in rejected] == [
        ("B-7", "not_in_reference"),
        ("", "missing_sku"),
        ("A-1", "duplicate_sku"),
        ("C-9", "not_in_reference"),
    ]
    summary = job.result["summary"]
    assert summary["kept"] == 2 and summary["rejected"] == 4 and summary["rows"] == 6
    assert summary["reasons"] == {"not_in_reference": 2, "missing_sku": 1, "duplicate_sku": 1}


def test_filter_against_the_catalog_drops_products_already_there(data_dir, products_csv):
    Product.objects.create(sku="b-7", name="Existing keychain", price="5.50")
    Product.objects.create(sku="C-9", name="Existing socks", price="9.99")
    job = run_script(
        "filter_products",
        {
            "input_file": "feed/products.csv",
            "reference": "catalog",
            "mode": "drop_listed",
            "drop_duplicates": False,
            "output_file": "new.csv",
            "rejected_file": "known.csv",
        },
    )
    assert job.status == JobStatus.COMPLETED, job.error
    assert [row["sku"] for row in read_csv(data_dir / "new.csv")] == ["A-1", "a-2", "A-1"]
    known = read_csv(data_dir / "known.csv")
    assert [(r["sku"], r["reject_reason"]) for r in known] == [
        ("B-7", "in_reference"),
        ("", "missing_sku"),
        ("C-9", "in_reference"),
    ]
    assert "Reference: 2 SKUs from the catalog" in log_lines(job)


def test_filter_reads_json_products(data_dir):
    (data_dir / "p.json").write_text(
        json.dumps(
            {
                "products": [
                    {"sku": "J-1", "name": "One", "attributes": {"a": 1}},
                    {"sku": "J-2", "name": "Two"},
                ]
            }
        )
    )
    (data_dir / "skus.csv").write_text("sku,name\nj-2,x\n")
    job = run_script(
        "filter_products",
        {"input_file": "p.json", "sku_file": "skus.csv", "output_file": "j.csv"},
    )
    assert job.status == JobStatus.COMPLETED, job.error
    assert read_csv(data_dir / "j.csv") == [{"sku": "J-2", "name": "Two", "attributes": ""}]


def test_filter_needs_a_sku_file_for_that_reference(data_dir, products_csv):
    with pytest.raises(InvalidScriptParameters) as caught:
        create_script_job(
            "filter_products",
            {
                "input_file": "feed/products.csv",
                "reference": "sku_file",
                "output_file": "feed/products.csv",
            },
        )
    assert set(caught.value.fields) == {"sku_file", "output_file"}


# -- categorize_products ---------------------------------------------------------------------


def test_categorize_applies_rules_in_order_and_reports_unmatched(data_dir, products_csv):
    (data_dir / "rules.json").write_text(
        json.dumps(
            {
                "rules": [
                    {"category": "Footwear > Sneakers", "keywords": ["sneaker", "trainer"]},
                    {"category": "Bags", "regex": r"\b(back)?packs?\b", "exclude": ["keychain"]},
                    {"category": "Hiking", "keywords": ["hiking"], "fields": ["description"]},
                ]
            }
        )
    )
    job = run_script(
        "categorize_products",
        {
            "input_file": "feed/products.csv",
            "rules_file": "rules.json",
            "output_file": "categorized.csv",
        },
    )
    assert job.status == JobStatus.COMPLETED, job.error
    rows = read_csv(data_dir / "categorized.csv")
    assert [(r["sku"], r["category"], r["category_rule"]) for r in rows] == [
        ("A-1", "Footwear > Sneakers", "1"),
        ("a-2", "Bags", "2"),
        ("B-7", "Gifts", "existing"),  # not overwritten by default
        ("", "", ""),
        ("A-1", "Footwear > Sneakers", "1"),
        ("C-9", "", ""),
    ]
    unmatched = read_csv(data_dir / "categorized.unmatched.csv")
    assert [(r["sku"], r["name"]) for r in unmatched] == [("", "No sku"), ("C-9", "Wool socks")]
    summary = job.result["summary"]
    assert summary["matched"] == 3 and summary["unmatched"] == 2 and summary["kept_existing"] == 1


def test_categorize_overwrites_and_uses_a_default_with_csv_rules(data_dir, products_csv):
    (data_dir / "rules.csv").write_text(
        "category,keywords,regex,fields,exclude\n"
        "Bags,backpack|bag,,name|description,\n"
        "Socks,,^wool,name,\n"
    )
    job = run_script(
        "categorize_products",
        {
            "input_file": "feed/products.csv",
            "rules_file": "rules.csv",
            "output_file": "c.csv",
            "unmatched_file": "reports/unmatched.csv",
            "overwrite": True,
            "default_category": "Misc",
        },
    )
    assert job.status == JobStatus.COMPLETED, job.error
    categories = [row["category"] for row in read_csv(data_dir / "c.csv")]
    assert categories == ["Misc", "Bags", "Bags", "Misc", "Misc", "Socks"]
    assert len(read_csv(data_dir / "reports" / "unmatched.csv")) == 3


def test_categorize_fails_clearly_on_a_bad_rule(data_dir, products_csv):
    (data_dir / "rules.json").write_text(json.dumps([{"category": "X", "regex": "([a-"}]))
    job = run_script(
        "categorize_products",
        {"input_file": "feed/products.csv", "rules_file": "rules.json", "output_file": "c.csv"},
    )
    assert job.status == JobStatus.FAILED
    assert "Rule 1: invalid regex" in job.error


# -- create_metafields -----------------------------------------------------------------------


def test_metafields_get_one_inferred_type_per_key_as_json_and_csv(data_dir, products_csv):
    job = run_script(
        "create_metafields",
        {
            "input_file": "feed/products.csv",
            "namespace": "specs",
            "output_json": "meta/metafields.json",
            "output_csv": "meta/metafields.csv",
        },
    )
    assert job.status == JobStatus.COMPLETED, job.error
    payload = json.loads((data_dir / "meta" / "metafields.json").read_text())
    definitions = {d["key"]: d["type"] for d in payload["definitions"]}
    assert definitions == {
        "color": "single_line_text_field",
        "weight_g": "number_decimal",  # 310, 950, 20 and 80.5
        "waterproof": "boolean",
        "material": "single_line_text_field",
        "sizes": "json",
        "launch": "date",
    }
    by_sku = {p["sku"]: {m["key"]: m for m in p["metafields"]} for p in payload["products"]}
    assert by_sku["A-1"]["waterproof"]["value"] == "true"
    assert by_sku["A-1"]["sizes"]["value"] == "[40,41]"
    assert by_sku["A-1"]["weight_g"] == {
        "namespace": "specs",
        "key": "weight_g",
        "type": "number_decimal",
        "value": "310",
    }
    assert "" not in by_sku  # rows without a SKU are skipped
    rows = read_csv(data_dir / "meta" / "metafields.csv")
    assert rows[0] == {
        "sku": "A-1",
        "namespace": "specs",
        "key": "color",
        "type": "single_line_text_field",
        "value": "red",
    }
    assert len(rows) == job.result["summary"]["metafields"]


def test_metafields_namespace_is_validated(data_dir, products_csv):
    with pytest.raises(InvalidScriptParameters) as caught:
        create_script_job(
            "create_metafields",
            {"input_file": "feed/products.csv", "namespace": "x;", "output_json": "m.json"},
        )
    assert "namespace" in caught.value.fields


# -- cleanup_duplicates ----------------------------------------------------------------------


def _picture(path, layout, size=(64, 64), fmt="PNG"):
    """Two layouts with different structure (a dHash compares structure, not colour)."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    if layout == "gradient":
        for x in range(width):
            draw.line([x, 0, x, height], fill=(int(255 * x / width),) * 3)
    else:
        draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill="black")
        draw.rectangle([0, 0, width // 5, height], fill=(90, 90, 90))
    image.save(path, fmt)


@pytest.fixture
def images(data_dir):
    folder = data_dir / "images"
    (folder / "sub").mkdir(parents=True)
    _picture(folder / "a.png", "gradient")
    (folder / "sub" / "a-copy.png").write_bytes((folder / "a.png").read_bytes())
    (folder / "zz-second-copy.png").write_bytes((folder / "a.png").read_bytes())
    _picture(folder / "b.png", "disc")
    _picture(folder / "b-large.jpg", "disc", size=(256, 256), fmt="JPEG")  # similar, not equal
    (folder / "notes.txt").write_bytes((folder / "a.png").read_bytes())  # not an image type
    os.utime(folder / "sub" / "a-copy.png", (1_000_000, 1_000_000))  # the oldest copy
    return folder


def test_cleanup_reports_duplicates_and_deletes_nothing_in_a_dry_run(data_dir, images):
    job = run_script("cleanup_duplicates", {"folder": "images", "perceptual": True})
    assert job.status == JobStatus.COMPLETED, job.error
    summary = job.result["summary"]
    assert summary["duplicate_groups"] == 1
    assert summary["duplicates"] == 2
    assert summary["deleted"] == 0
    assert summary["near_duplicates"] == 1
    assert (images / "a.png").exists() and (images / "zz-second-copy.png").exists()
    report = read_csv(summary["report_file"])
    exact = {
        (row["path"].split("images/")[1], row["action"]) for row in report if row["kind"] == "exact"
    }
    assert exact == {
        ("sub/a-copy.png", "keep"),
        ("a.png", "would_delete"),
        ("zz-second-copy.png", "would_delete"),
    }
    similar = {row["path"].split("images/")[1] for row in report if row["kind"] == "perceptual"}
    assert similar == {"b.png", "b-large.jpg"}


def test_cleanup_deletes_the_extra_copies_only_without_dry_run(data_dir, images):
    job = run_script(
        "cleanup_duplicates",
        {"folder": "images", "dry_run": False, "keep": "shortest_path", "recursive": True},
    )
    assert job.status == JobStatus.COMPLETED, job.error
    assert (images / "a.png").exists()
    assert not (images / "sub" / "a-copy.png").exists()
    assert not (images / "zz-second-copy.png").exists()
    assert (images / "b.png").exists() and (images / "b-large.jpg").exists()
    assert (images / "notes.txt").exists()
    assert job.result["summary"]["deleted"] == 2
    assert job.result["summary"]["bytes_freed"] == 2 * (images / "a.png").stat().st_size


def test_cleanup_does_not_follow_links_out_of_the_folder(data_dir, images, tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes((images / "a.png").read_bytes())
    os.symlink(outside, images / "link.png")
    job = run_script("cleanup_duplicates", {"folder": "images", "dry_run": False})
    assert job.status == JobStatus.COMPLETED, job.error
    assert outside.exists()
    assert (images / "link.png").is_symlink()
