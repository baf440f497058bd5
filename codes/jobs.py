"""Job kinds of the code manager (auto-discovered by core at start-up).

The seed's job types (`fienta.create_codes`, ...) are their aliases: the jobs API's kind
filter accepts them, and `/api/batch-jobs` shows them as `job_type`.

Re-running after a lost worker: the database work converges (a batch recognises the codes
it created, and its change commits together with its checkpoint), so the kinds say
`rerun_on_worker_lost=True`; the Fienta CLI and the Shopify calls are outside effects and
run inside `ctx.unsafe_to_rerun(...)`, so a worker lost during one of them fails the job for
an operator to look at instead of repeating it blindly.
"""

from core.services.job_kinds import declare_job_kind

CREATE_CODES = declare_job_kind(
    "codes.create",
    handler="codes.services.bulk_create.run_create_codes_job",
    queue="imports",
    label="Create codes",
    aliases=("fienta.create_codes",),
    detail="codes.services.batches.batch_job_detail",
    rerun_on_worker_lost=True,
)
RENAME_CODES = declare_job_kind(
    "codes.rename",
    handler="codes.services.bulk_rename.run_rename_codes_job",
    queue="imports",
    label="Rename codes",
    aliases=("fienta.rename_codes",),
    detail="codes.services.batches.batch_job_detail",
    rerun_on_worker_lost=True,
)
UPDATE_DISCOUNT = declare_job_kind(
    "codes.update_discount",
    handler="codes.services.bulk_discount.run_update_discount_job",
    queue="imports",
    label="Update code discounts",
    aliases=("fienta.update_discount",),
    detail="codes.services.batches.batch_job_detail",
    rerun_on_worker_lost=True,
)
CSV_DIFF = declare_job_kind(
    "codes.csv_diff",
    handler="codes.services.csv_diff.run_csv_diff_job",
    queue="imports",
    label="Compare code lists",
    aliases=("fienta.csv_diff",),
    detail="codes.services.batches.batch_job_detail",
    rerun_on_worker_lost=True,
)
XLSX_TO_CSV = declare_job_kind(
    "codes.xlsx_to_csv",
    handler="codes.services.xlsx_to_csv.run_xlsx_to_csv_job",
    queue="imports",
    label="Convert XLSX to CSV",
    aliases=("csv.xlsx_to_csv",),
    detail="codes.services.batches.batch_job_detail",
    rerun_on_worker_lost=True,  # it only writes its own output file again
)

#: The code manager's bulk kinds (what /api/batch-jobs lists by default, with any other
#: `codes.*` kind the app declares).
BATCH_KINDS = (CREATE_CODES, RENAME_CODES, UPDATE_DISCOUNT, CSV_DIFF, XLSX_TO_CSV)


#: One attempt at sending one EmailMessage (`params: {"email_id"}`). Not re-run after a
#: lost worker: the send is an outside effect (a 4xx schedules the next attempt itself).
EMAIL_SEND = declare_job_kind(
    "codes.send_email",
    handler="codes.services.email_delivery.run_email_job",
    queue="email",
    label="Send email",
    aliases=("email.send",),  # seed 003's job type
    timeout_seconds=300,
    detail="codes.services.email_delivery.email_job_detail",
)
