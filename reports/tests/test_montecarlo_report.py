"""The report's Monte Carlo section: a fan chart and a short table, drawn from what the worker
stored with the run (run.montecarlo), and left out when there is none."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from backtests.engine import montecarlo as mc
from backtests.models import Trade
from backtests.services import run_montecarlo
from reports import charts, pdf
from reports.render import render_report_html

from .factories import stored_inputs, stored_run

SVG = "{http://www.w3.org/2000/svg}"


def with_montecarlo(run):
    trades = pd.DataFrame({"pnl": list(Trade.objects.filter(run=run).order_by("seq").values_list("pnl", flat=True))})
    run.montecarlo = run_montecarlo(trades=trades, initial_capital=10_000.0)
    run.save(update_fields=["montecarlo"])
    return run


def test_the_fan_chart_draws_bands_median_and_the_run():
    result = mc.monte_carlo(np.random.default_rng(2).normal(0.003, 0.01, 120), mc.MonteCarloSettings(paths=500))
    svg = charts.montecarlo_fan_chart(result["fan"])
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"This run", "Median path", "trades"} <= set(texts)
    assert "120" in texts, "the last trade count is on the axis"
    assert len([p for p in root.iter(f"{SVG}path") if p.get("fill-opacity") in ("0.14", "0.22")]) == 2
    assert "No trades to resample" in charts.montecarlo_fan_chart(None)


@pytest.mark.django_db
def test_the_report_shows_the_stored_monte_carlo(alice):
    run = with_montecarlo(stored_run(alice, trades=30))
    html = render_report_html(run, for_pdf=False, inputs=stored_inputs(run))
    section = re.search(r'<section class="page" id="monte-carlo">(.*?)</section>', html, re.S).group(1)
    assert "Bootstrap of trade returns" in section and "Trade order reshuffled" in section
    final = run.montecarlo["bootstrap"]["final_return_pct"]
    assert f"{final['p5']:+.1f}% / {final['p50']:+.1f}% / {final['p95']:+.1f}%" in section
    assert "10,000 paths of 30 trades each" in section
    assert 'id="chart-montecarlo"' in section


@pytest.mark.django_db
def test_no_monte_carlo_no_section(alice):
    run = stored_run(alice, trades=5)
    assert 'id="monte-carlo"' not in render_report_html(run, for_pdf=False, inputs=stored_inputs(run))


@pytest.mark.e2e
@pytest.mark.django_db
def test_the_pdf_has_the_monte_carlo_section(alice, tmp_path):
    import subprocess

    run = with_montecarlo(stored_run(alice, trades=30))
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.html_to_pdf(render_report_html(run, for_pdf=True, inputs=stored_inputs(run))))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Monte Carlo robustness" in text and "Chance of losing 50% of the start" in text
    assert "Bootstrap of trade returns" in text
