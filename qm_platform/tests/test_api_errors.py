"""The one error handler: every error is the JSON contract, whatever format was asked for."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/backtests/{id}/equity/?format=csv",
        "/api/v1/backtests/{id}/report.pdf/?format=pdf",
        "/api/v1/batches/{id}/report.pdf/?format=pdf",
    ],
)
def test_an_error_is_json_even_when_csv_or_pdf_was_asked_for(alice_api, url):
    # found by the fuzz run: the 404's JSON body was labelled text/csv or application/pdf
    response = alice_api.get(url.format(id=uuid.uuid4()))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "NOT_FOUND"


def test_an_unknown_format_is_a_json_404(alice_api):
    response = alice_api.get(f"/api/v1/backtests/{uuid.uuid4()}/equity/?format=xml")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert set(response.json()) == {"success", "error", "code", "details"}
