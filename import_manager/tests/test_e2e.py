"""End to end: the upload API, the broker and a real Celery worker on the imports queue."""

import shutil

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import Job, JobStatus
from core.models.job import TERMINAL_STATUSES
from core.testing.helpers import wait_until
from import_manager.models import ImportRun

from .helpers import HEADER, catalog


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_uploaded_file_is_imported_by_a_real_worker(celery_worker_process, client_for):
    lines = [",".join(HEADER)] + [f"E2E-{i},Item {i},,{i}.25,true" for i in range(1, 2001)]
    lines.append("e2e-1,Item one again,,9.99,false")
    client = client_for("operator")
    response = client.post(
        "/api/upload",
        {"file": SimpleUploadedFile("e2e.csv", "\n".join(lines).encode())},
        format="multipart",
    )
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    folder = (settings.DATA_DIR / ImportRun.objects.get(job_id=job_id).stored_path).parent
    try:
        finished = wait_until(
            lambda: Job.objects.get(pk=job_id).status in TERMINAL_STATUSES, timeout=120
        )
        assert finished, celery_worker_process.output()[-3000:]
        job = Job.objects.get(pk=job_id)
        assert job.status == JobStatus.COMPLETED, job.error
        state = catalog()
        assert len(state) == 2000
        assert state["e2e-1"] == ("Item one again", "", "9.99", False)
        body = client.get(f"/api/imports/{job_id}").json()
        assert (body["processed_rows"], body["success_count"], body["created"]) == (
            2001,
            2001,
            2000,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
