"""The report's benchmark section: the stored figures (one number, one source with the API), the
rolling 90-day Sharpe and beta drawn from report_data, a page of its own only with rolling points,
and nothing for a run stored before benchmarks."""

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from backtests import selectors
from reports import charts, kpis
from reports.render import render_report_html

from .factories import stored_inputs, stored_run

SVG = "{http://www.w3.org/2000/svg}"


def section(html: str) -> str:
    """From the benchmark section's start to the end of the section it is in."""
    return html.split('id="benchmark"', 1)[1].split("</section>", 1)[0]


@pytest.mark.django_db
def test_the_section_prints_the_stored_figures_once(alice):
    run = stored_run(alice, trades=30)
    html = render_report_html(run, for_pdf=True, inputs=stored_inputs(run))
    assert '<section class="page" id="benchmark">' in html, "rolling points: a page of its own"
    body = section(html)
    assert "Against the benchmark: XAUUSD buy and hold" in body
    for key in selectors.BENCHMARK_KEYS:
        text = kpis.format_value(key, run.metrics[key])
        assert f'data-metric="{key}"><span>{kpis.OTHER[key][0]}</span><span>{text}</span>' in body, key
        assert html.count(f'data-metric="{key}"') == 1, f"{key} is not repeated under All statistics"
    assert 'id="chart-rolling-sharpe"' in body and 'id="chart-rolling-beta"' in body


@pytest.mark.django_db
def test_without_rolling_points_the_figures_flow_with_the_performance(alice):
    run = stored_run(alice, trades=12)
    run.report_data = dict(run.report_data, rolling={"window_days": 90, "time": [], "sharpe": [], "beta": []})
    html = render_report_html(run, for_pdf=True, inputs=stored_inputs(run))
    assert '<section class="page" id="benchmark">' not in html and '<div id="benchmark" class="keep">' in html
    assert 'id="chart-rolling-sharpe"' not in html
    assert "need more than 90 days of data" in html


@pytest.mark.django_db
def test_a_run_stored_before_benchmarks_has_no_section(alice):
    run = stored_run(alice, trades=12, benchmark=False)
    html = render_report_html(run, for_pdf=False, inputs=stored_inputs(run))
    assert 'id="benchmark"' not in html
    assert "Equity against buy-and-hold" in html


def test_the_rolling_chart_draws_each_stretch_and_the_reference():
    index = pd.date_range("2024-04-01", periods=60, freq="D", tz="UTC")
    values = np.linspace(-1, 2, 60)
    values[20:25] = np.nan  # windows without variation: a gap, not a fall to 0
    svg = charts.rolling_chart(
        pd.Series(values, index=index), label="Rolling 90-day beta", reference=1.0, reference_label="β = 1"
    )
    root = ET.fromstring(svg)
    lines = [p for p in root.iter(f"{SVG}path") if p.get("stroke") == charts.ACCENT]
    assert len(lines) == 2
    assert "β = 1" in [t.text for t in root.iter(f"{SVG}text")]
    assert "Too few days" in charts.rolling_chart(pd.Series(dtype=float), label="x", reference=0, reference_label="0")
