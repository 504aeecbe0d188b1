"""One number, one source: a figure printed twice (KPI card and chart label) is read from the same
stored value; the stored, thinned equity keeps the drawdown the KPI measured; values equal within
float noise bin together; axes never repeat a label; "−0.00" never appears."""

import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from backtests.engine import metrics as M
from backtests.engine.downsample import downsample_equity
from reports import analysis, charts, kpis
from reports.render import render_report_html

from .factories import METRICS, stored_inputs, stored_run

SVG = "{http://www.w3.org/2000/svg}"
NUMBER = re.compile(r"[-−]?\d+(?:\.\d+)?")


def svg_texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def y_axis_labels(svg: str) -> list[str]:
    """The labels right-aligned at the left of the plot (the y axis)."""
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("text-anchor") == "end"]


def spiky_equity(bars: int = 6_000) -> pd.Series:
    """An hourly curve whose worst fall lasts one bar, between two picks of every tenth bar: the
    old every-nth thinning drew a far shallower drawdown than the KPI."""
    rng = np.random.default_rng(14)
    values = 10_000 * np.cumprod(1 + rng.normal(0.0001, 0.001, bars))
    values[3_001] = values[:3_001].max() * 0.79
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=bars, freq="h", tz="UTC"))


@pytest.fixture
def spiky_run(alice):
    equity = spiky_equity()
    metrics = dict(METRICS, max_drawdown_pct=M.max_drawdown_pct(equity.to_numpy()))
    return stored_run(alice, trades=20, metrics=metrics, equity_curve=downsample_equity(equity, 600))


def printed_drawdowns(html: str) -> tuple[str, str]:
    """(the KPI card's max drawdown, the number printed on the underwater chart)."""
    card = re.search(r'data-kpi="max_drawdown_pct">.*?<div class="value">(.*?)</div>', html, re.S).group(1)
    chart = re.search(r'id="chart-drawdown">(.*?)</div>', html, re.S).group(1)
    label = next(t for t in svg_texts(chart) if t.startswith("max"))
    return card, label


@pytest.mark.django_db
def test_the_kpi_drawdown_is_the_number_printed_on_the_underwater_chart(spiky_run):
    html = render_report_html(spiky_run, for_pdf=False, inputs=stored_inputs(spiky_run))
    card, label = printed_drawdowns(html)
    assert card == "21.00%" and label == "max −21.00%"
    drawn = analysis.drawdown_pct(analysis.equity_series(spiky_run.equity_curve))
    assert -drawn.min() == pytest.approx(spiky_run.metrics["max_drawdown_pct"], abs=1e-6), "the curve reaches it"


def test_the_stored_curve_keeps_the_drawdown_every_nth_thinning_lost():
    equity = spiky_equity()
    full = M.max_drawdown_pct(equity.to_numpy())
    kept = np.array([v for _, v in downsample_equity(equity, 600)])
    every_tenth = equity.to_numpy()[::10]
    assert M.max_drawdown_pct(kept) == pytest.approx(full, rel=1e-9)
    assert M.max_drawdown_pct(every_tenth) < full - 5


def test_r_multiples_equal_within_float_noise_share_a_bin():
    minus_one = [-0.99999999, -1.0000000053, -1.0, -1.0 + 1e-15]
    counts, edges, *_ = charts.histogram_bins(np.array(minus_one + [3.0, 2.9999999999, 4.0]))
    at = {round(float(lo), 9): int(c) for lo, c in zip(edges[:-1], counts)}
    assert at == {-1.0: 4, 0.0: 0, 1.0: 0, 2.0: 0, 3.0: 3}, at


@pytest.mark.parametrize("most", [1, 2, 3, 5, 7, 13, 40, 130])
def test_count_axes_never_repeat_a_label(most):
    wins = np.zeros(24, dtype=np.int64)
    wins[3] = most
    svg = charts.win_loss_bars([f"{h:02d}" for h in range(24)], wins, np.ones(24, dtype=np.int64), title="by hour")
    labels = y_axis_labels(svg)
    assert len(labels) == len(set(labels)) >= 2, labels
    assert all(label.isdigit() for label in labels), labels
    histogram = charts.histogram_chart(np.repeat([-1.0, 2.0], [most, 1]), title="R")
    labels = y_axis_labels(histogram)
    assert len(labels) == len(set(labels)), labels


@pytest.mark.parametrize("low, high", [(0, 2.5), (-7.5, 0), (9_990, 10_010), (0.1, 0.35), (-0.5, 0)])
def test_numeric_ticks_print_distinct_labels(low, high):
    ticks = charts.nice_ticks(low, high, 4)
    step = ticks[1] - ticks[0]
    labels = [charts._fmt_number(t, step) for t in ticks]
    assert len(labels) == len(set(labels)), labels
    assert all(float(label.replace(",", "")) == pytest.approx(t) for label, t in zip(labels, ticks)), labels


def test_month_ticks_across_years_do_not_repeat():
    start, end = pd.Timestamp("2021-03-01", tz="UTC"), pd.Timestamp("2024-11-01", tz="UTC")
    labels = [label for _, label in charts.time_ticks(start.value, end.value)]
    assert len(labels) == len(set(labels)), labels


def test_a_value_that_rounds_to_zero_is_printed_without_a_sign():
    assert kpis.number_text("{:.2f}", -0.001) == "0.00"
    assert kpis.number_text("{:+.2f}%", -0.0) == "+0.00%"
    assert kpis.number_text("{:.2f}", -0.01) == "-0.01"
    cards = {c["key"]: c for c in kpis.summary({"sharpe": -0.004, "sortino": -0.0, "net_return_pct": -0.0001})}
    assert cards["sharpe"]["text"] == "0.00" and cards["sharpe"]["tone"] == "neutral"
    assert cards["net_return_pct"]["reading"] == "The account ended where it started."


@pytest.mark.django_db
def test_minus_zero_never_appears_in_the_report(alice):
    near_zero = dict(METRICS, sharpe=-0.001, sortino=-0.004, net_return_pct=-0.0002, expectancy_r=-0.001, calmar=-1e-4)
    run = stored_run(alice, trades=12, metrics=near_zero)
    for for_pdf in (False, True):
        html = render_report_html(run, for_pdf=for_pdf, inputs=stored_inputs(run))
        text = re.sub(r"<[^>]+>", " ", html).replace(str(run.id), "<run id>")  # a UUID may hold "-0"
        assert not re.search(r"[-−]0(?:\.0+)?(?![.\d])", text), re.findall(r".{30}[-−]0(?:\.0+)?(?![.\d]).{10}", text)


# ---- in Chromium ------------------------------------------------------------------------------


def _read_in_chromium(html: str, screenshot: Path) -> dict:
    from playwright.sync_api import sync_playwright

    from reports.pdf import launch_options

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_content(html, wait_until="load")
            seen = {
                "card": page.text_content("[data-kpi=max_drawdown_pct] .value"),
                "chart": page.text_content("#chart-drawdown [data-max-drawdown] text"),
            }
            page.locator("#chart-drawdown").screenshot(path=str(screenshot))
            return seen
        finally:
            browser.close()


@pytest.mark.e2e
@pytest.mark.django_db
def test_in_chromium_the_kpi_drawdown_equals_the_underwater_charts_label(spiky_run):
    html = render_report_html(spiky_run, for_pdf=True, inputs=stored_inputs(spiky_run))
    shots = Path(settings.VAR_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API wants its own thread
        seen = pool.submit(_read_in_chromium, html, shots / "underwater.png").result(timeout=120)
    card = float(NUMBER.search(seen["card"]).group())
    chart = float(NUMBER.search(seen["chart"]).group().replace("−", "-"))
    assert seen["card"] == "21.00%" and seen["chart"] == "max −21.00%"
    assert chart == -card


@pytest.mark.django_db
def test_the_monthly_heatmap_shows_the_monthly_returns_stored_with_the_metrics(alice):
    stored = [["2024-01", 1.55], ["2024-02", -2.25], ["2024-03", None]]
    run = stored_run(alice, trades=12, metrics=dict(METRICS, monthly_returns=stored, best_month_pct=1.55))
    html = render_report_html(run, for_pdf=False, inputs=stored_inputs(run))
    heatmap = re.search(r'id="chart-monthly">(.*?)</div>', html, re.S).group(1)
    assert {"+1.6", "-2.2"} <= set(svg_texts(heatmap)), svg_texts(heatmap)
    assert 'data-metric="best_month_pct"><span>Best month</span><span>1.55%</span>' in html
    assert 'data-metric="monthly_returns"' not in html, "a list is drawn, not listed"
