"""The admin's dataset pages: quality report and the CSV upload form."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketdata.models import Dataset

pytestmark = pytest.mark.django_db

CSV = (
    "Date,Open,High,Low,Close,Volume\n"
    + "".join(f"2024-01-08 {h:02d}:00,1.10,1.12,1.09,1.11,{100 + h}\n" for h in range(24))
).encode()


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", password="root-password")
    client.force_login(user)
    return client


def test_upload_form_imports_and_shows_the_quality_report(admin_client, make_manager):
    page = admin_client.get("/admin/marketdata/dataset/")
    assert page.status_code == 200 and b"Upload CSV" in page.content
    response = admin_client.post(
        "/admin/marketdata/dataset/upload-csv/",
        {
            "file": SimpleUploadedFile("eurusd.csv", CSV),
            "symbol": "EURUSD",
            "timeframe": "1h",
            "tz": "UTC",
            "policy": "reject",
        },
    )
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{dataset.id}/change/")
    detail = admin_client.get(response["Location"])
    assert detail.status_code == 200
    assert b"Data quality 100/100" in detail.content and b"completeness_score" in detail.content
    size = f"{dataset.bytes / 1e3:,.1f} kB".encode()
    assert b"Bars:" in detail.content and size in detail.content and b"Bytes:" not in detail.content


def test_upload_form_lists_problems_by_line(admin_client, make_manager):
    bad = b"Date,Open,High,Low,Close\n2024-01-08 00:00,1,2,0.5,1.5\n2024-01-08 01:00,1,0.5,0.4,1.5\n"
    response = admin_client.post(
        "/admin/marketdata/dataset/upload-csv/",
        {"file": SimpleUploadedFile("bad.csv", bad), "symbol": "EURUSD", "tz": "UTC", "policy": "reject"},
    )
    assert response.status_code == 200 and Dataset.objects.count() == 0
    assert b"<td>3</td>" in response.content and b"is below max(open" in response.content
