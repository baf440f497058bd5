"""`full_import`: download → filter → categorize → metafields → catalog import → Shopify upload.

One job, one log: the worker runs each step in turn, every data step in its own sandboxed
child with that script's limits, and stops at the first step that fails. The catalog import
runs in the worker itself (it needs the database): `prepare_catalog_file` (a child) writes the
import file, then import_manager's service imports it. Intermediate files go to the run's
folder (`steps/`), so a failed run can be inspected; progress is split across the steps.
"""

from __future__ import annotations

from pathlib import Path

from scripts_runner.services.credentials import is_configured
from scripts_runner.services.parameters import (
    BooleanParam,
    ChoiceParam,
    FilePathParam,
    IntegerParam,
    StringParam,
)
from scripts_runner.services.registry import (
    ParentStep,
    ScriptStep,
    SkipStep,
    Workflow,
    register,
)

from .filter_products import CATALOG, DROP_LISTED, KEEP_LISTED, SKU_FILE
from .ftp_download import FtpDownload
from .shopify_upload import ShopifyUpload

NONE = "none"


def _parameter(script, name):
    return next(param for param in script.parameters if param.name == name)


@register
class FullImport(Workflow):
    name = "full_import"
    description = (
        "The whole supplier feed pipeline as one job: download a product file from FTP, filter "
        "it against reference SKUs, categorize it by rules, generate Shopify metafields, "
        "import it into the catalog, and (optionally) upload it to Shopify. Stops at the "
        "first failed step."
    )
    timeout = 4 * 3600
    optional_credentials = ["ftp_password", "shopify_token"]
    parameters = [
        _parameter(FtpDownload, "host"),
        _parameter(FtpDownload, "port"),
        _parameter(FtpDownload, "username"),
        _parameter(FtpDownload, "tls"),
        _parameter(FtpDownload, "remote_dir"),
        StringParam(
            "pattern",
            required=True,
            max_length=255,
            pattern=r"[\w .*?!\[\]-]+",
            help="Glob of the product file; the last matching name (e.g. newest date) is used.",
        ),
        ChoiceParam(
            "reference",
            choices=[
                (NONE, "No reference: only drop rows without SKU and repeated SKUs"),
                (SKU_FILE, "A SKU list file"),
                (CATALOG, "The catalog"),
            ],
            default=NONE,
        ),
        FilePathParam("sku_file", help="SKU list (reference=sku_file)."),
        ChoiceParam("filter_mode", choices=[KEEP_LISTED, DROP_LISTED], default=KEEP_LISTED),
        FilePathParam("rules_file", required=True, extensions=[".json", ".csv"]),
        StringParam(
            "metafield_namespace",
            default="custom",
            min_length=3,
            max_length=255,
            pattern=r"[a-zA-Z0-9_-]+",
        ),
        BooleanParam("catalog_dry_run", default=False, help="Validate the import, write nothing."),
        BooleanParam("upload_to_shopify", default=False),
        StringParam(
            "shop_domain",
            max_length=255,
            pattern=r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?",
            help="Required to upload: your-store.myshopify.com",
        ),
        ChoiceParam("shopify_status", choices=["ACTIVE", "DRAFT", "ARCHIVED"], default="DRAFT"),
        IntegerParam("shopify_batch_size", default=10, min_value=1, max_value=25),
    ]

    def check(self, values):
        errors = {}
        if values["reference"] == SKU_FILE and not values.get("sku_file"):
            errors["sku_file"] = ["Required when the reference is a SKU list file."]
        if values["upload_to_shopify"]:
            if not values.get("shop_domain"):
                errors["shop_domain"] = ["Required to upload to Shopify."]
            else:
                errors.update(ShopifyUpload().check({"shop_domain": values["shop_domain"]}))
            if not is_configured("shopify_token"):
                errors["credentials"] = ["Credential 'shopify_token' is not configured."]
        return errors

    def steps(self, values, workdir):
        work = Path(workdir) / "steps"
        work.mkdir(parents=True, exist_ok=True)
        download_dir = Path(workdir) / "download"
        filtered = work / "filtered.csv"
        categorized = work / "categorized.csv"
        metafields = work / "metafields.json"
        catalog_file = work / "catalog_import.csv"

        def download(previous):
            return {
                **{key: values[key] for key in ("host", "port", "username", "tls", "remote_dir")},
                "pattern": values["pattern"],
                "dest_dir": str(download_dir),
                "overwrite": True,
            }

        def product_file(previous) -> str:
            files = sorted(previous["download"]["files"])
            if not files:
                raise ValueError(f"no file on the server matches {values['pattern']!r}")
            return files[-1]

        def filter_(previous):
            params = {
                "input_file": product_file(previous),
                "output_file": str(filtered),
                "rejected_file": str(work / "rejected.csv"),
                "mode": values["filter_mode"],
            }
            if values["reference"] == NONE:
                # An empty reference with drop_listed keeps every row with a unique SKU.
                empty = work / "no_reference.txt"
                empty.write_text("")
                params.update(reference=SKU_FILE, sku_file=str(empty), mode=DROP_LISTED)
            elif values["reference"] == SKU_FILE:
                params.update(reference=SKU_FILE, sku_file=values["sku_file"])
            else:
                params["reference"] = CATALOG
            return params

        def upload(previous):
            if not values["upload_to_shopify"]:
                return SkipStep("upload_to_shopify is off")
            return {
                "input_file": str(categorized),
                "metafields_file": str(metafields),
                "shop_domain": values["shop_domain"],
                "status": values["shopify_status"],
                "batch_size": values["shopify_batch_size"],
                "report_file": str(work / "shopify_report.csv"),
            }

        def catalog_import(step, previous):
            from scripts_runner.services.catalog import import_catalog_file

            summary = import_catalog_file(catalog_file, step, dry_run=values["catalog_dry_run"])
            if summary.get("total_rows") and not summary.get("success_count"):
                raise RuntimeError(
                    f"the catalog import rejected every row: {summary['errors'][:3]}"
                )
            return summary

        return [
            ScriptStep("download", "ftp_download", download, weight=2),
            ScriptStep("filter", "filter_products", filter_),
            ScriptStep(
                "categorize",
                "categorize_products",
                lambda previous: {
                    "input_file": str(filtered),
                    "rules_file": values["rules_file"],
                    "output_file": str(categorized),
                    "unmatched_file": str(work / "unmatched.csv"),
                },
            ),
            ScriptStep(
                "metafields",
                "create_metafields",
                lambda previous: {
                    "input_file": str(categorized),
                    "namespace": values["metafield_namespace"],
                    "output_json": str(metafields),
                    "output_csv": str(work / "metafields.csv"),
                },
            ),
            ScriptStep(
                "prepare_import",
                "prepare_catalog_file",
                lambda previous: {"input_file": str(categorized), "output_file": str(catalog_file)},
                weight=0.5,
            ),
            ParentStep("catalog_import", catalog_import, weight=2, rerun_safe=True),
            ScriptStep("shopify_upload", "shopify_upload", upload, weight=2),
        ]
