"""Pages speak in sentences: errors field by field, styled 404/403/500 and login pages, login
landing on the runs list."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from django.urls import include, path

from backtests.models import BacktestRun

from .factories import v4_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_an_invalid_body_is_shown_field_by_field_never_as_a_python_repr(alice_client):
    body = v4_body(decisionBlocks=[], marketContext__timeframe="2x")
    response = alice_client.post("/run-backtest-v4", {"payload": json.dumps(body)})
    html = response.content.decode()
    assert response.status_code == 400 and BacktestRun.objects.count() == 0
    assert "<li>decisionBlocks: This list may not be empty.</li>" in html
    assert "marketContext.timeframe: &quot;2x&quot; is not a valid choice.</li>" in html
    for repr_fragment in ("ErrorDetail", "non_field_errors", "{&#x27;", "[&#x27;"):
        assert repr_fragment not in html


def test_a_typo_in_a_key_is_shown_with_the_close_match(alice_client):
    body = v4_body()
    body["marketContext"]["timefame"] = body["marketContext"].pop("timeframe")
    html = alice_client.post("/run-backtest-v4", {"payload": json.dumps(body)}).content.decode()
    assert "marketContext.timefame is not a known field" in html and "<li>Did you mean timeframe?</li>" in html


def test_the_v5_page_shows_errors_as_sentences(alice_client):
    response = alice_client.post(
        "/run-backtest-v5", {"payload": json.dumps({"marketContext": {"market": "EURUSD"}, "ict": {}})}
    )
    html = response.content.decode()
    assert response.status_code == 400 and "marketContext.timeframe: This field is required.</li>" in html
    assert "ErrorDetail" not in html


def test_a_wrong_password_is_said_once_on_a_styled_page(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    html = response.content.decode()
    assert response.status_code == 200 and html.count("username or password") == 1
    assert "<nav" in html and 'id="id_password"' in html


def test_logging_in_lands_on_the_runs_list(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    assert response.status_code == 302 and response["Location"] == "/runs/"
    assert client.get("/runs/").status_code == 200


def test_a_missing_page_is_a_styled_404_and_an_api_404_stays_json(alice_client):
    response = alice_client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404 and "Page not found" in html and "<nav" in html
    api = alice_client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["code"] == "NOT_FOUND"


def _boom(request):
    raise RuntimeError("boom")


def _forbidden(request):
    from django.core.exceptions import PermissionDenied

    raise PermissionDenied


urlpatterns = [path("boom/", _boom), path("forbidden/", _forbidden), path("", include("qm_platform.urls"))]
handler404 = "qm_platform.api_errors.json_404"
handler500 = "qm_platform.api_errors.json_500"


@override_settings(ROOT_URLCONF=__name__)
def test_a_server_error_and_a_forbidden_page_are_styled(client):
    client.raise_request_exception = False
    response = client.get("/boom/")
    html = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in html and "boom" not in html
    response = client.get("/forbidden/")
    assert response.status_code == 403 and "Not allowed" in response.content.decode()
