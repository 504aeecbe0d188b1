"""End to end: a leveraged run with financing, instrument costs and the bar magnifier, over HTTP
through a real worker; its trades, metrics and PDF show leverage, financing and liquidations."""

import subprocess

import pytest
import requests

from .factories import v4_body
from .test_e2e import poll, token_headers

pytestmark = pytest.mark.e2e


def test_a_leveraged_run_with_financing_and_the_magnifier(live_server, celery_worker_process, alice, tmp_path):
    headers = token_headers(alice)
    body = v4_body(
        exit={"takeProfit": 2.0, "intrabar": "15m"},  # no stop: the margin decides the losers
        costs={"fromInstrument": True},
        account={"leverage": 20},
        sizing={"moduleId": "fixed_units", "config": {"units": 10_000}},  # far more gold than 20:1 allows
    )
    response = requests.post(f"{live_server.url}/api/v1/backtests", json=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    run, _ = poll(response.json()["status_url"], headers, timeout=180)
    assert run["status"] == "SUCCEEDED", run
    metrics = run["metrics"]
    assert metrics["leverage_cap"] == 20 and metrics["price_decimals"] == 2 and metrics["capped_entries"] > 0
    assert metrics["liquidations"] >= 1 and metrics["total_financing"] != 0
    assert "intrabar_resolved" in metrics

    trades = requests.get(run["links"]["trades"], headers=headers, timeout=10).json()["results"]
    reasons = {t["exit_reason"] for t in trades}
    assert "liquidation" in reasons
    assert any(t["financing"] != 0 for t in trades)
    for trade in trades:
        assert trade["size"] <= trade["requested_size"] + 1e-9
        assert round(trade["entry_price"], 2) == trade["entry_price"]  # the instrument's decimals
        assert round(trade["size"], 9) == round(round(trade["size"]), 9)  # whole ounces: 0.01 lot of 100

    pdf = requests.get(run["links"]["report_pdf"], headers=headers, timeout=60)
    assert pdf.status_code == 200
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "leverage up to 20:1" in text and "financing" in text and "liquidated" in text
