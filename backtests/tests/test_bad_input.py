"""A malformed-input corpus through the backtest and dataset endpoints: every case is a 4xx
in the error contract, nothing is created, nothing reaches a worker, nothing is a 500."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backtests.models import BacktestRun
from marketdata.models import Dataset

from .factories import v4_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests"


def assert_contract(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    assert body["code"] == body["code"].upper() and isinstance(body["details"], dict)
    if code:
        assert body["code"] == code, body
    return body


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def many_conditions(n: int) -> dict:
    sub = {"moduleId": "rsi", "config": {"operator": "<", "value": 30}}
    return v4_body(decisionBlocks=[{"subConfirmations": [sub] * n}])


BAD_BODIES = {
    "market is a dot": v4_body(marketContext__market="."),
    "market is two dots": v4_body(marketContext__market=".."),
    "market is a path": v4_body(marketContext__market="../etc/passwd"),
    "market is SQL": v4_body(marketContext__market="X'; DROP TABLE backtests_backtestrun;--"),
    "market is unicode": v4_body(marketContext__market="ÆØÅ€"),
    "end in year 9999": v4_body(marketContext__endDate="9999-12-31T00:00:00Z"),
    "start before 1900": v4_body(marketContext__startDate="1066-10-14T00:00:00Z"),
    "too many conditions": many_conditions(1000),
    "capital is huge": v4_body(initialCapital=1e308),
    "capital is negative": v4_body(initialCapital=-5),
    "a label of a megabyte": v4_body(decisionBlocks__0__label="x" * 1_000_000),
    "stop loss is a string": v4_body(exit__stopLoss="lots"),
    "module id is a list": v4_body(decisionBlocks__0__subConfirmations__0__moduleId=["rsi"]),
    "decision blocks empty": v4_body(decisionBlocks=[]),
    "warmup is 9999y": v4_body(marketContext__warmup="9999y"),
    "test period is 999999y": {
        **v4_body(),
        "marketContext": {"market": "XAUUSD", "timeframe": "1h", "testPeriod": "999999y"},
    },
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_bad_backtest_body_is_a_clear_4xx_and_creates_nothing(alice_api, case):
    response = alice_api.post(URL, BAD_BODIES[case], format="json")
    assert_contract(response, 400)
    assert BacktestRun.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        '{"initialCapital": NaN}',
        '{"initialCapital": Infinity}',
        '{"initialCapital": 1e400}',
        nested(600),
        nested(5000),
        "[" * 100_000,
        "{" + '"a":1,' * 10 + "}",
        "\x00\x01\x02",
    ],
    ids=["nan", "infinity", "overflow", "nested-600", "nested-5000", "open-brackets", "trailing-comma", "binary"],
)
def test_malformed_json_is_400(alice_api, raw):
    response = alice_api.generic("POST", URL, raw.encode(), content_type="application/json")
    assert_contract(response, 400)
    assert BacktestRun.objects.count() == 0


def test_a_body_over_the_upload_limit_is_413(alice_api, settings):
    body = v4_body(strategyName="x" * 100, padding="y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10))
    response = alice_api.generic("POST", URL, json.dumps(body).encode(), content_type="application/json")
    assert_contract(response, 413, "REQUEST_TOO_LARGE")
    assert BacktestRun.objects.count() == 0


@pytest.mark.parametrize(
    "run_id",
    ["------------------------------------", "ffffffff-ffff-ffff-ffff-ffffffffffff0", "g" * 36, "%2e%2e", "1"],
)
def test_a_malformed_run_id_is_404(alice_api, run_id):
    for suffix in ("", "/trades", "/report.pdf"):
        response = alice_api.get(f"{URL}/{run_id}{suffix}")
        assert response.status_code == 404, (run_id, suffix, response.content[:300])


@pytest.mark.parametrize(
    "content",
    [
        b"Date,Open,High,Low,Close\n2024-01-08 00:00,1,2,0.5,1.5\n2024-01-08 01:00,1,inf,0.5,1.5\n",
        b"Date,Open,High,Low,Close\n2024-01-08 00:00,1,2,0.5,1.5\n2024-01-08 01:00,1,2,-inf,1.5\n",
        b"Date,Open,High,Low,Close\n2024-01-08 00:00,1,2,0.5,1.5\n2300-01-08 01:00,1,2,0.5,1.5\n",
        b"Date,Open,High,Low,Close\n99999999999999999,1,2,0.5,1.5\n99999999999999998,1,2,0.5,1.5\n",
        b"Date,Open,High,Low,Close\n1e300,1,2,0.5,1.5\n2e300,1,2,0.5,1.5\n",
    ],
    ids=["inf-high", "minus-inf-low", "year-2300", "huge-epoch", "float-epoch"],
)
def test_a_csv_with_impossible_values_is_400_and_stores_nothing(alice_api, content):
    response = alice_api.post(
        "/api/v1/datasets",
        {"file": SimpleUploadedFile("bad.csv", content), "symbol": "EURUSD", "tz": "UTC"},
        format="multipart",
    )
    assert_contract(response, 400)
    assert Dataset.objects.count() == 0


@pytest.mark.parametrize("symbol", ["..", ".", "../x", "A/B", "ÆØÅ", "x" * 100])
def test_a_bad_dataset_symbol_is_400(alice_api, symbol):
    response = alice_api.post("/api/v1/datasets/fetch", {"symbol": symbol, "timeframe": "1h"}, format="json")
    assert response.status_code in (400, 404, 405), response.content[:300]
    if response.status_code == 400:
        assert_contract(response, 400)


def test_a_typoed_market_on_synthetic_data_is_400_naming_the_close_ones(alice_api):
    body = assert_contract(
        alice_api.post(URL, v4_body(marketContext__market="XAUSD"), format="json"), 400, "INVALID_REQUEST"
    )
    assert "XAUSD is not a market" in body["error"] and "XAUUSD" in body["error"]
    assert body["details"]["field"] == "marketContext.market" and "XAUUSD" in body["details"]["close_matches"]
    assert BacktestRun.objects.count() == 0
    known = alice_api.post(URL, v4_body(marketContext__market="XAUUSD", cache=False), format="json").json()
    assert not any("not a market" in w for w in BacktestRun.objects.get(id=known["id"]).warnings)


def _rename(body: dict, path: list, old: str, new: str) -> dict:
    target = body
    for key in path:
        target = target[key]
    target[new] = target.pop(old)
    return body


@pytest.mark.parametrize(
    ("path", "old", "typo", "field"),
    [
        ([], "marketContext", "marketContxt", "marketContxt"),
        ([], "decisionBlocks", "decisionblocks", "decisionblocks"),
        (["marketContext"], "timeframe", "timefame", "marketContext.timefame"),
        (["decisionBlocks", 0], "subConfirmations", "subConfirmation", "decisionBlocks[0].subConfirmation"),
        (
            ["decisionBlocks", 0, "subConfirmations", 0],
            "moduleId",
            "moduleID",
            "decisionBlocks[0].subConfirmations[0].moduleID",
        ),
    ],
)
def test_a_typoed_key_at_any_level_is_400_with_the_close_match(alice_api, path, old, typo, field):
    body = _rename(v4_body(), path, old, typo)
    err = assert_contract(alice_api.post(URL, body, format="json"), 400, "INVALID_REQUEST")
    assert err["details"]["field"] == field and err["details"]["close_matches"] == [old], err
    assert f"did you mean {old}?" in err["error"]
    assert BacktestRun.objects.count() == 0


def test_a_typoed_key_of_a_v5_request_is_400(alice_api):
    from backtests.api.views import EXAMPLE_V5

    body = json.loads(json.dumps(EXAMPLE_V5))
    body["ict"]["entryModle"] = body["ict"].pop("entryModel", "fvg")
    err = assert_contract(alice_api.post(URL, body, format="json"), 400, "INVALID_REQUEST")
    assert err["details"] == {"field": "ict.entryModle", "close_matches": ["entryModel"]}


def test_an_unknown_key_that_resembles_none_is_ignored_with_a_warning(alice_api):
    body = v4_body(notes="my own annotation")
    response = alice_api.post(URL, body, format="json")
    assert response.status_code == 202, response.content
    assert "Ignored the unknown field 'notes'." in BacktestRun.objects.get(id=response.json()["id"]).warnings


def test_yahoo_1m_over_a_long_period_names_yahoos_30_day_limit_not_the_bar_limit(alice_api):
    body = v4_body(marketContext__dataSource="yahoo", marketContext__timeframe="1m", marketContext__testPeriod="max")
    for key in ("startDate", "endDate"):
        body["marketContext"].pop(key)
    err = assert_contract(alice_api.post(URL, body, format="json"), 400, "DATA_RANGE_UNAVAILABLE")
    assert "last 30 days" in err["error"] and "limit is" not in err["error"], err
