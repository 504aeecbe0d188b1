"""Artifacts (qm_platform/artifacts.py): report PDFs in one storage, local or S3 (SeaweedFS, a
real S3 server), written atomically, downloaded streamed or through a presigned URL, deleted with
their run or batch once the deletion commits."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request

import pytest
from django.core.exceptions import ImproperlyConfigured

from backtests.models import Artifact, BacktestRun, RunStatus, Strategy
from batches.models import Batch
from conftest import ROOT
from qm_platform import artifacts

pytestmark = pytest.mark.django_db


def succeeded_run(owner, pdf: bytes) -> BacktestRun:
    strategy = Strategy.objects.create(owner=owner, name="s", definition={"x": 1})
    run = BacktestRun.objects.create(
        owner=owner, strategy=strategy, request={}, market="XAUUSD", timeframe="1h", direction="Long"
    )
    BacktestRun.objects.filter(id=run.id).update(status=RunStatus.SUCCEEDED)
    key = artifacts.write(f"reports/{run.id}.pdf", pdf)
    Artifact.objects.create(
        run=run, kind=Artifact.Kind.REPORT_PDF, storage_key=key, bytes=len(pdf), sha256=hashlib.sha256(pdf).hexdigest()
    )
    return run


@pytest.fixture
def local_artifacts(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "artifacts")
    return tmp_path / "artifacts"


def test_local_write_replaces_the_file_whole_and_leaves_no_temporary_file(local_artifacts):
    artifacts.write("reports/x.pdf", b"%PDF old")
    assert artifacts.write("reports/x.pdf", b"%PDF new, longer") == "reports/x.pdf"  # same key, no suffix
    assert (local_artifacts / "reports" / "x.pdf").read_bytes() == b"%PDF new, longer"
    assert sorted(p.name for p in (local_artifacts / "reports").iterdir()) == ["x.pdf"]


def test_a_crash_mid_write_keeps_the_old_file_whole(local_artifacts, monkeypatch):
    artifacts.write("reports/x.pdf", b"%PDF old")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        artifacts.write("reports/x.pdf", b"%PDF half")
    assert (local_artifacts / "reports" / "x.pdf").read_bytes() == b"%PDF old"
    assert sorted(p.name for p in (local_artifacts / "reports").iterdir()) == ["x.pdf"]


def test_a_local_pdf_downloads_through_the_api_and_goes_with_its_run(
    local_artifacts, alice, alice_api, django_capture_on_commit_callbacks
):
    run = succeeded_run(alice, b"%PDF-1.7 local report")
    response = alice_api.get(f"/api/v1/backtests/{run.id}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == b"%PDF-1.7 local report"
    with django_capture_on_commit_callbacks(execute=True):
        run_id = run.id
        run.delete()
    assert not artifacts.exists(f"reports/{run_id}.pdf")


def test_an_s3_pdf_is_streamed_by_the_web_process(s3_artifacts, seaweedfs, alice, alice_api, bob_api):
    pdf = b"%PDF-1.7 " + os.urandom(300_000)  # several chunks
    run = succeeded_run(alice, pdf)
    stored = seaweedfs["client"].get_object(Bucket=seaweedfs["bucket"], Key=f"{s3_artifacts}/reports/{run.id}.pdf")
    assert stored["Body"].read() == pdf  # in the bucket, under the artifacts prefix
    response = alice_api.get(f"/api/v1/backtests/{run.id}/report.pdf")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/pdf" and response["Content-Length"] == str(len(pdf))
    assert b"".join(response.streaming_content) == pdf
    assert bob_api.get(f"/api/v1/backtests/{run.id}/report.pdf").status_code == 404


def test_with_presign_on_the_download_is_a_short_lived_url_to_s3(s3_artifacts, settings, alice, alice_api):
    settings.QM_ARTIFACTS_PRESIGN = True
    run = succeeded_run(alice, b"%PDF-1.7 presigned")
    response = alice_api.get(f"/api/v1/backtests/{run.id}/report.pdf")
    assert response.status_code == 302
    url = response["Location"]
    assert "X-Amz-Signature=" in url and f"X-Amz-Expires={settings.QM_ARTIFACTS_PRESIGN_SECONDS}" in url
    with urllib.request.urlopen(url, timeout=10) as fetched:  # the S3 server answers it directly
        assert fetched.read() == b"%PDF-1.7 presigned"
        assert fetched.headers["Content-Type"] == "application/pdf"


def test_s3_artifacts_go_with_their_run_and_batch_once_the_deletion_commits(
    s3_artifacts, alice, django_capture_on_commit_callbacks
):
    run = succeeded_run(alice, b"%PDF run")
    run_key = f"reports/{run.id}.pdf"
    batch = Batch.objects.create(owner=alice, definition={})
    batch_key = artifacts.write(f"reports/batch-{batch.id}.pdf", b"%PDF batch")
    Batch.objects.filter(id=batch.id).update(report_key=batch_key)
    batch.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run.delete()
        batch.delete()
    assert artifacts.exists(run_key) and artifacts.exists(batch_key)  # not before the commit
    for callback in callbacks:
        callback()
    assert not artifacts.exists(run_key) and not artifacts.exists(batch_key)


def test_presign_without_s3_is_refused_at_start_up(tmp_path):
    import subprocess

    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="qm_platform.settings_test",
        QM_VAR_DIR=str(tmp_path),
        QM_ARTIFACT_STORAGE="local",
        QM_ARTIFACTS_PRESIGN="1",
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "QM_ARTIFACTS_PRESIGN=1 needs QM_ARTIFACT_STORAGE=s3" in result.stderr
    assert ImproperlyConfigured.__name__ in result.stderr
