"""End to end: HTTP → PostgreSQL → Redis → a real Celery worker process → Chromium PDF."""

import subprocess
import time

import pytest
import requests

from backtests.models import BacktestRun, RunStatus, Trade

from .factories import v4_body

pytestmark = pytest.mark.e2e
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def token_headers(user):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


def poll(url, headers, until=FINAL, timeout=120):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        run = requests.get(url, headers=headers, timeout=10).json()
        seen.append((run["status"], run["progress"], run["stage"]))
        if run["status"] in until:
            return run, seen
        time.sleep(0.1)
    raise AssertionError(f"run did not reach {until} in {timeout}s; last states {seen[-5:]}")


def test_submit_poll_trades_pdf_and_isolation(live_server, celery_worker_process, alice, bob, tmp_path):
    alice_h, bob_h = token_headers(alice), token_headers(bob)
    response = requests.post(f"{live_server.url}/api/v1/backtests", json=v4_body(), headers=alice_h, timeout=10)
    assert response.status_code == 202, response.text
    submitted = response.json()
    assert submitted["status"] == "QUEUED"

    run, seen = poll(submitted["status_url"], alice_h)
    assert run["status"] == "SUCCEEDED", run
    assert run["progress"] == 100 and run["metrics"]["trade_count"] == run["trade_count"] > 0
    progress = [p for status, p, _ in seen if status == "RUNNING"] + [run["progress"]]
    assert progress == sorted(progress), "progress never goes backwards"

    trades = requests.get(run["links"]["trades"], headers=alice_h, timeout=10).json()
    assert trades["count"] == run["trade_count"] == Trade.objects.filter(run_id=run["id"]).count()

    pdf = requests.get(run["links"]["report_pdf"], headers=alice_h, timeout=30)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.content)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 1
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{run['metrics']['win_rate']:.1f}%" in text
    assert "XAUUSD" in text

    for path in ("", "/trades", "/report.pdf"):
        denied = requests.get(f"{live_server.url}/api/v1/backtests/{run['id']}{path}", headers=bob_h, timeout=10)
        assert denied.status_code == 404 and denied.json()["code"] == "NOT_FOUND"


def test_a_cached_answer_has_its_own_pdf_with_its_own_name_and_run_id(
    live_server, celery_worker_process, alice, tmp_path
):
    h = token_headers(alice)
    api = f"{live_server.url}/api/v1/backtests"
    first = requests.post(api, json=v4_body(strategyName="First name"), headers=h, timeout=10).json()
    assert "status_url" in first, first
    source, _ = poll(first["status_url"], h)
    assert source["status"] == "SUCCEEDED"
    again = requests.post(api, json=v4_body(strategyName="Second name"), headers=h, timeout=10).json()
    assert "status_url" in again, again
    assert again["cached"] is True and again["id"] != source["id"]

    deadline, pdf = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        pdf = requests.get(f"{api}/{again['id']}/report.pdf", headers=h, timeout=30)
        if pdf.status_code == 200:
            break
        assert pdf.json()["code"] == "REPORT_NOT_READY"
        time.sleep(0.2)
    assert pdf is not None and pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    path = tmp_path / "cached.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Second name" in text and again["id"] in text
    assert "First name" not in text and source["id"] not in text


def test_failed_run_keeps_the_worker_serving_and_cancel_stops_a_running_run(live_server, celery_worker_process, alice):
    h = token_headers(alice)
    api = f"{live_server.url}/api/v1/backtests"
    weekend = v4_body(marketContext__startDate="2024-06-01T00:00:00Z", marketContext__endDate="2024-06-02T00:00:00Z")
    failed, _ = poll(requests.post(api, json=weekend, headers=h, timeout=10).json()["status_url"], h)
    assert failed["status"] == "FAILED"
    assert failed["error"]["code"] == "INSUFFICIENT_DATA" and failed["error"]["message"]

    # A long run: two years of 1-minute bars on a 24/7 market.
    long_body = v4_body(
        marketContext__market="BTCUSD",
        marketContext__timeframe="1m",
        marketContext__startDate="2022-01-01T00:00:00Z",
        marketContext__endDate="2024-01-01T00:00:00Z",
    )
    run_url = requests.post(api, json=long_body, headers=h, timeout=10).json()["status_url"]
    running, _ = poll(run_url, h, until={"RUNNING"} | FINAL)
    assert running["status"] == "RUNNING"
    cancel = requests.post(f"{run_url}/cancel", headers=h, timeout=10)
    assert cancel.status_code == 200 and cancel.json()["status"] == "CANCELLED"
    time.sleep(1.5)
    run = BacktestRun.objects.get(id=running["id"])
    assert run.status == RunStatus.CANCELLED
    assert not Trade.objects.filter(run=run).exists()

    # The worker is free again and serves the next run.
    ok, _ = poll(requests.post(api, json=v4_body(), headers=h, timeout=10).json()["status_url"], h)
    assert ok["status"] == "SUCCEEDED"
