"""Running the bulk code jobs in tests: start them through the API, run them in-process."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

from core.models import Job, JobLogLine
from core.services.jobs import execute_job


def write_csv(path: Path, rows: list[list], *, delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def start(client, path: str, body: dict, *, expect: int = 202, **kwargs):
    response = client.post(path, body, format="json" if not kwargs else None, **kwargs)
    assert response.status_code == expect, response.content
    return response.json()


def run(job_id) -> Job:
    """Run the job in this process (the test's worker) and return it as it ended."""
    execute_job(job_id)
    return Job.objects.get(pk=job_id)


def log_text(job: Job) -> str:
    return "\n".join(
        JobLogLine.objects.filter(job=job).order_by("seq").values_list("line", flat=True)
    )


def result_rows(client, job_id) -> list[dict]:
    response = client.get(f"/api/batch-jobs/{job_id}/results")
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def log_download(client, job_id) -> str:
    """GET /api/batch-jobs/{id}/logs, read whole (its body is an async stream)."""
    response = client.get(f"/api/batch-jobs/{job_id}/logs")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "StreamingHttpResponse must consume")
        return b"".join(response).decode()
