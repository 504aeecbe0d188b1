"""A cancel stops the worker within about QM_CANCEL_CHECK_INTERVAL at any stage, data
generation included (bench/cancel.py measures how long)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import override_settings

from backtests import services
from backtests.models import BacktestRun, RunStatus, Trade
from marketdata.providers.synthetic import SyntheticProvider

from .factories import v4_body

pytestmark = pytest.mark.django_db


@override_settings(QM_RENDER_PDF=False, QM_CANCEL_CHECK_INTERVAL=0.01, QM_PROGRESS_MIN_INTERVAL=60)
def test_a_cancel_while_the_data_is_generated_stops_the_worker_at_once(alice, monkeypatch):
    # A year of 1m bars: generated day by day, ~260 days; the user cancels on the 5th.
    body = v4_body(
        marketContext__timeframe="1m",
        marketContext__startDate="2023-01-01T00:00:00Z",
        marketContext__endDate="2024-01-01T00:00:00Z",
    )
    run = services.backtest_submit(user=alice, body=body)
    days = []
    real = SyntheticProvider._intraday

    def one_day(self, *args, **kwargs):
        days.append(time.monotonic())
        if len(days) == 5:
            services.backtest_cancel(run=BacktestRun.objects.get(id=run.id))
        time.sleep(0.005)  # a day's bars take a few ms to generate
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SyntheticProvider, "_intraday", one_day)
    assert services.backtest_execute(run_id=run.id) == RunStatus.CANCELLED
    assert 5 <= len(days) < 15, f"the worker generated {len(days)} days; the year has ~260"
    assert not Trade.objects.filter(run=run).exists()
    assert BacktestRun.objects.get(id=run.id).status == RunStatus.CANCELLED


@pytest.mark.parametrize("stage", list(services.STAGES))
def test_between_progress_writes_the_worker_still_notices_a_cancel(alice, stage):
    run = services.backtest_submit(user=alice, body=v4_body())
    BacktestRun.objects.filter(id=run.id).update(status=RunStatus.RUNNING, lease_token="mine")
    writer = services.ProgressWriter(run_id=run.id, lease="mine", min_interval=60, check_interval=0)
    writer.write(stage, 1)  # the last write: the next ones wait a minute
    writer(stage, 1, 10)  # still ours: nothing happens
    BacktestRun.objects.filter(id=run.id).update(status=RunStatus.CANCELLED)
    with pytest.raises(services.RunCancelled):
        writer(stage, 2, 10)
    assert BacktestRun.objects.get(id=run.id).progress == 1, "a cancel check writes nothing"


def test_a_cancel_while_the_report_is_built_skips_printing_the_pdf(alice, monkeypatch):
    """The report stage (the longest of a short run: Chromium prints the PDF) notices a cancel
    that came while its HTML was built, and frees the worker without printing."""
    from reports import pdf, render
    from reports.tests.factories import stored_run

    run = stored_run(alice, trades=5)
    BacktestRun.objects.filter(id=run.id).update(
        status="RUNNING", stage="rendering_report", progress=85, lease_token="t"
    )
    real_html, real_pdf, printed = render.render_report_html, pdf.html_to_pdf, []

    def html_then_cancel(*args, **kwargs):
        html = real_html(*args, **kwargs)
        services.backtest_cancel(run=BacktestRun.objects.get(id=run.id))  # the user, meanwhile
        return html

    def printing(html, **kwargs):
        printed.append(html)
        return real_pdf(html, **kwargs)

    monkeypatch.setattr(render, "render_report_html", html_then_cancel)
    monkeypatch.setattr(pdf, "html_to_pdf", printing)
    assert services.backtest_finish_report(run_id=run.id) == RunStatus.CANCELLED
    assert printed == [] and not run.artifacts.exists()
    assert BacktestRun.objects.get(id=run.id).progress == 85


@override_settings(QM_RENDER_PDF=False, QM_CANCEL_CHECK_INTERVAL=0, QM_PROGRESS_MIN_INTERVAL=60)
def test_a_cancel_while_the_data_is_saved_stops_before_the_quality_reports(alice, monkeypatch, tmp_path):
    """After the bars are generated the load still saves them, reads them back and writes two
    quality reports (about a second for two years of 1m bars): each step is a place to stop."""
    from marketdata import services as data_services
    from marketdata.storage.parquet import PartitionedParquetStorage

    monkeypatch.setattr(settings, "QM_DATA_DIR", tmp_path / "market_cache")  # nothing cached: it generates

    body = v4_body(
        marketContext__timeframe="1m",
        marketContext__startDate="2023-01-01T00:00:00Z",
        marketContext__endDate="2023-02-01T00:00:00Z",
    )
    run = services.backtest_submit(user=alice, body=body)
    real_save, real_quality, reports = PartitionedParquetStorage.save_data, data_services.quality_report, []

    def save_then_cancel(self, *args, **kwargs):
        saved = real_save(self, *args, **kwargs)
        services.backtest_cancel(run=BacktestRun.objects.get(id=run.id))  # the user, meanwhile
        return saved

    def quality(*args, **kwargs):
        reports.append(kwargs.get("symbol"))
        return real_quality(*args, **kwargs)

    monkeypatch.setattr(PartitionedParquetStorage, "save_data", save_then_cancel)
    monkeypatch.setattr(data_services, "quality_report", quality)
    assert services.backtest_execute(run_id=run.id) == RunStatus.CANCELLED
    assert reports == [], "neither the dataset's nor the run's quality report was computed"
    assert (tmp_path / "market_cache").exists(), "the bars were generated and saved before the cancel"
