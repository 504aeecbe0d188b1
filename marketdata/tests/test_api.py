"""The datasets API and the data part of backtest requests."""

from __future__ import annotations

import json
import tracemalloc

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework.test import APIRequestFactory, force_authenticate

from backtests.models import BacktestRun
from backtests.tests.factories import v4_body
from marketdata.models import Dataset
from marketdata.providers.synthetic import SyntheticProvider
from marketdata.services import dataset_fetch

pytestmark = pytest.mark.django_db
URL = "/api/v1/datasets"
UTC = "UTC"


def ts(text):
    return pd.Timestamp(text, tz=UTC)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == code and isinstance(body["details"], dict)
    return body


def csv_file(symbol="EURUSD", timeframe="1h", start="2024-01-08", end="2024-01-13", name="bars.csv"):
    df = SyntheticProvider().download(symbol, timeframe, ts(start), ts(end))
    df.index = df.index.strftime("%Y-%m-%d %H:%M")
    text = df.rename_axis("Date").rename(columns=str.capitalize).to_csv()
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def upload(client, **fields):
    data = {"file": csv_file(), "symbol": "EURUSD", "tz": "UTC", **fields}
    return client.post(URL, data, format="multipart")


def test_upload_creates_a_dataset_with_a_quality_report(alice_api, make_manager):
    response = upload(alice_api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"].endswith(f"/api/v1/datasets/{body['id']}")
    assert body["symbol"] == "EURUSD" and body["timeframe"] == "1h" and body["source"] == "csv"
    assert body["uploaded"] is True and body["rows"] == 120 and body["name"] == "bars.csv"
    assert body["quality_report"]["completeness_score"] == 100 and body["completeness_score"] == 100
    assert body["start"].startswith("2024-01-08T00:00:00") and body["end"].startswith("2024-01-12T23:00:00")


def test_malformed_file_is_400_invalid_data_by_line_and_stores_nothing(alice_api, make_manager):
    manager = make_manager()
    bad = b"Date,Open,High,Low,Close\n2024-01-08 00:00,1,2,0.5,1.5\n2024-01-08 01:00,1,0.8,0.5,1.5\nnope,1,2,0.5,1\n"
    response = alice_api.post(
        URL, {"file": SimpleUploadedFile("bad.csv", bad), "symbol": "EURUSD", "tz": "UTC"}, format="multipart"
    )
    body = assert_error(response, 400, "INVALID_DATA")
    assert [p["line"] for p in body["details"]["problems"]] == [3, 4]
    assert body["details"]["problem_count"] == 2 and "line 3" in body["error"]
    assert Dataset.objects.count() == 0 and manager.storage.list() == []


def test_naive_times_without_tz_are_refused(alice_api, make_manager):
    body = assert_error(upload(alice_api, tz=""), 400, "INVALID_DATA")
    assert "pass tz" in body["error"]


@override_settings(QM_CSV_MAX_UPLOAD_MB=1)
def test_size_limit(alice_api, make_manager):
    big = SimpleUploadedFile("big.csv", b"Date,Open,High,Low,Close\n" + b"x" * (1024 * 1024 + 10))
    assert_error(alice_api.post(URL, {"file": big, "symbol": "EURUSD"}, format="multipart"), 413, "FILE_TOO_LARGE")


def peak_memory_mb(call):
    """``(result, peak MB allocated while call() ran)``, by tracemalloc (numpy and pandas
    report their buffers to it too)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, (peak - before) / 2**20


def test_a_100000_column_csv_is_refused_by_its_header_in_bounded_memory(alice_api, make_manager):
    manager = make_manager()
    header = "Date,Open,High,Low,Close," + ",".join(f"c{i}" for i in range(100_000))
    text = header + "\n" + "2024-01-08 00:00,1,2,0.5,1.5" + ",0" * 100_000 + "\n"
    assert 800_000 < len(text) < 1_200_000  # the size of the file in the report (889 KB)
    wide = SimpleUploadedFile("wide.csv", text.encode())

    response, peak_mb = peak_memory_mb(
        lambda: alice_api.post(URL, {"file": wide, "symbol": "EURUSD", "tz": "UTC"}, format="multipart")
    )

    body = assert_error(response, 400, "INVALID_DATA")
    assert "at most 16" in body["error"] and body["details"]["problems"][0]["max_columns"] == 16
    assert Dataset.objects.count() == 0 and manager.storage.list() == []
    assert peak_mb < 50, f"{peak_mb:.0f} MB to refuse a 1 MB file"


@override_settings(QM_CSV_MAX_UPLOAD_MB=1)
def test_an_upload_over_the_limit_is_413_before_its_body_is_read(alice, make_manager):
    from marketdata.api.views import DatasetViewSet

    boundary = "qm-test-boundary"
    big = b"Date,Open,High,Low,Close\n" + b"2024-01-08 00:00,1,2,0.5,1.5\n" * 600_000  # 17 MB
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="symbol"\r\n\r\nEURUSD\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'.encode(),
            b"Content-Type: text/csv\r\n\r\n",
            big,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    request = APIRequestFactory().generic("POST", URL, body, content_type=f"multipart/form-data; boundary={boundary}")
    del big, body
    force_authenticate(request, user=alice)
    view = DatasetViewSet.as_view({"post": "create"})

    response, peak_mb = peak_memory_mb(lambda: view(request).render())

    assert response.status_code == 413, response.content
    body = json.loads(response.content)
    assert body["success"] is False and body["code"] == "FILE_TOO_LARGE"
    assert body["details"]["max_mb"] == 1 and "the limit is 1 MB" in body["error"]
    assert request.META["wsgi.input"].read_started is False, "not a byte of the body was read"
    assert peak_mb < 2, f"{peak_mb:.1f} MB allocated to refuse a 17 MB upload"
    assert Dataset.objects.count() == 0


def test_upload_fields_are_validated(alice_api, make_manager):
    assert_error(alice_api.post(URL, {"symbol": "EURUSD"}, format="multipart"), 400, "INVALID_REQUEST")
    assert_error(upload(alice_api, timeframe="7m"), 400, "INVALID_REQUEST")
    assert_error(upload(alice_api, symbol="EUR/USD"), 400, "INVALID_REQUEST")


def test_list_filters_and_isolation(alice_api, bob_api, anon_api, make_manager):
    make_manager()
    dataset_fetch(symbol="XAUUSD", timeframe="1h", source="synthetic", start=ts("2024-01-01"), end=ts("2024-01-10"))
    dataset_fetch(symbol="XAUUSD", timeframe="1d", source="synthetic", start=ts("2024-01-01"), end=ts("2024-03-01"))
    mine = upload(alice_api).json()["id"]
    bobs = upload(bob_api).json()["id"]
    listing = alice_api.get(URL).json()
    assert listing["count"] == 3 and {d["id"] for d in listing["results"]} >= {mine}
    assert bobs not in {d["id"] for d in listing["results"]}
    assert [d["timeframe"] for d in alice_api.get(URL, {"symbol": "xauusd"}).json()["results"]] == ["1d", "1h"]
    assert [d["id"] for d in alice_api.get(URL, {"source": "csv"}).json()["results"]] == [mine]
    assert alice_api.get(URL, {"symbol": "XAUUSD", "timeframe": "1h"}).json()["count"] == 1
    assert_error(alice_api.get(URL, {"timeframe": "7m"}), 400, "INVALID_REQUEST")
    assert_error(alice_api.get(f"{URL}/{bobs}"), 404, "NOT_FOUND")
    assert_error(alice_api.post(f"{URL}/{bobs}/refresh"), 404, "NOT_FOUND")
    assert_error(anon_api.get(URL), 401, "NOT_AUTHENTICATED")
    assert_error(anon_api.post(URL, {}, format="multipart"), 401, "NOT_AUTHENTICATED")


def test_detail_shows_the_quality_report(alice_api, make_manager):
    make_manager()
    dataset, _ = dataset_fetch(
        symbol="BTCUSD", timeframe="1h", source="synthetic", start=ts("2024-01-01"), end=ts("2024-01-10")
    )
    body = alice_api.get(f"{URL}/{dataset.id}").json()
    report = body["quality_report"]
    assert report["calendar"] == "24/7 crypto" and report["expected_bars"] == 216 and report["missing_bars"] == 0
    assert set(report) >= {"missing_bar_pct", "gaps", "freshness", "completeness_score", "anomalies"}
    assert body["uploaded"] is False


def test_refresh_downloads_recent_bars_from_yahoo(alice_api, yahoo_manager, yahoo, clock):
    clock.now = ts("2026-11-18 00:00")
    yahoo.provider.now = clock
    dataset, _ = dataset_fetch(
        symbol="EURUSD", timeframe="1h", source="yahoo", start=ts("2026-11-10"), end=ts("2026-11-18")
    )
    clock.now = ts("2026-11-21 00:00")
    response = alice_api.post(f"{URL}/{dataset.id}/refresh")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["end"].startswith("2026-11-20T21:00:00") and body["warnings"] == []
    assert int(yahoo.chart_calls[-1]["period1"]) == int(ts("2026-11-17 00:00").timestamp())  # covered end - TTL
    yahoo.down = True
    body = assert_error(alice_api.post(f"{URL}/{dataset.id}/refresh"), 503, "DATA_UNAVAILABLE")
    assert "Yahoo Finance is unavailable" in body["error"]


def test_uploads_cannot_be_refreshed_but_can_be_deleted(alice_api, make_manager):
    manager = make_manager()
    mine = upload(alice_api).json()
    assert_error(alice_api.post(f"{URL}/{mine['id']}/refresh"), 409, "INVALID_STATE")
    assert alice_api.delete(f"{URL}/{mine['id']}").status_code == 204
    assert manager.storage.list() == [] and Dataset.objects.count() == 0
    shared, _ = dataset_fetch(
        symbol="XAUUSD", timeframe="1d", source="synthetic", start=ts("2024-01-01"), end=ts("2024-02-01")
    )
    assert_error(alice_api.delete(f"{URL}/{shared.id}"), 409, "INVALID_STATE")


# ---- the data part of backtest requests ----------------------------------------------------


def test_backtest_on_a_dataset_uses_its_last_bars_for_test_period(alice_api, make_manager):
    dataset_id = upload(alice_api).json()["id"]
    body = v4_body(
        marketContext__dataSource=dataset_id, marketContext__market="EURUSD", marketContext__testPeriod="1wk"
    )
    for key in ("startDate", "endDate"):
        body["marketContext"].pop(key)
    response = alice_api.post("/api/v1/backtests", body, format="json")
    assert response.status_code == 202, response.content
    run = BacktestRun.objects.get(id=response.json()["id"])
    assert run.data_source == f"dataset:{dataset_id}"
    assert run.data_end == ts("2024-01-13").to_pydatetime() and run.data_start == ts("2024-01-06").to_pydatetime()


def test_backtest_on_a_dataset_checks_market_and_timeframe(alice_api, make_manager):
    dataset_id = upload(alice_api).json()["id"]
    err = assert_error(
        alice_api.post("/api/v1/backtests", v4_body(marketContext__dataSource=dataset_id), format="json"),
        400,
        "INVALID_REQUEST",
    )
    assert "holds EURUSD, not XAUUSD" in err["error"]
    err = assert_error(
        alice_api.post(
            "/api/v1/backtests",
            v4_body(
                marketContext__dataSource=dataset_id, marketContext__market="EURUSD", marketContext__timeframe="15m"
            ),
            format="json",
        ),
        400,
        "INVALID_REQUEST",
    )
    assert "holds 1h bars" in err["error"]


def test_backtest_outside_a_datasets_range_is_400_naming_the_covered_range(alice_api, make_manager):
    dataset_id = upload(alice_api).json()["id"]
    body = v4_body(
        marketContext__dataSource=dataset_id,
        marketContext__market="EURUSD",
        marketContext__startDate="2025-01-01T00:00:00Z",
        marketContext__endDate="2025-02-01T00:00:00Z",
    )
    err = assert_error(alice_api.post("/api/v1/backtests", body, format="json"), 400, "DATA_RANGE_UNAVAILABLE")
    assert "covers 2024-01-08 00:00 to 2024-01-12 23:00 UTC" in err["error"], err
    assert err["details"]["dataset_start"].startswith("2024-01-08") and err["details"]["field"]
    assert BacktestRun.objects.count() == 0


def test_yahoo_request_beyond_its_limits_is_refused_up_front(alice_api):
    body = v4_body(
        marketContext__dataSource="yahoo",
        marketContext__timeframe="15m",
        marketContext__startDate="2025-01-01T00:00:00Z",
        marketContext__endDate="2025-03-01T00:00:00Z",
    )
    err = assert_error(alice_api.post("/api/v1/backtests", body, format="json"), 400, "DATA_RANGE_UNAVAILABLE")
    assert "last 60 days" in err["error"] and "CSV" in err["error"]
    assert err["details"]["max_days_back"] == 60 and err["details"]["field"] == "marketContext.testPeriod"
    assert BacktestRun.objects.count() == 0


def test_yahoo_request_within_its_limits_is_queued(alice_api):
    body = v4_body(marketContext__dataSource="yahoo", marketContext__timeframe="15m", marketContext__testPeriod="2mo")
    for key in ("startDate", "endDate"):
        body["marketContext"].pop(key)
    response = alice_api.post("/api/v1/backtests", body, format="json")
    assert response.status_code == 202, response.content
    assert BacktestRun.objects.get(id=response.json()["id"]).data_source == "yahoo"
