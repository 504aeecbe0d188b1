"""The hand-drawn SVG charts: well-formed, round ticks, honest empty states, every element a report needs.

Their speed is a benchmark's business (``bench/report.py``), not a unit test's."""

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from reports import analysis, charts

from .factories import make_trades, synthetic_prices

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("viewBox")
    return root


def texts(svg: str) -> list[str]:
    return [t.text for t in parse(svg).iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def prices():
    return synthetic_prices("XAUUSD", "15m", "2024-01-01", "2024-04-01")


@pytest.fixture(scope="module")
def trades(prices):
    return analysis.trade_frame([type("T", (), t) for t in make_trades(prices, 500, hold=3)])


@pytest.fixture(scope="module")
def equity(prices):
    return prices["close"].iloc[::10] / prices["close"].iloc[0] * 10_000


def test_nice_ticks_cover_the_range_with_round_steps():
    assert charts.nice_ticks(9123, 11876) == [9000, 9500, 10000, 10500, 11000, 11500, 12000]
    assert charts.nice_ticks(-51.3, 0, 4) == [-60, -50, -40, -30, -20, -10, 0]
    ticks = charts.nice_ticks(0.00012, 0.00047)
    assert ticks[0] <= 0.00012 and ticks[-1] >= 0.00047 and len(ticks) <= 8


def test_time_ticks_fall_on_calendar_boundaries():
    def labels(a, b):
        return [
            label for _, label in charts.time_ticks(pd.Timestamp(a, tz="UTC").value, pd.Timestamp(b, tz="UTC").value)
        ]

    assert labels("2024-01-01", "2024-07-01") == ["Jan 2024", "Feb", "Mar", "Apr", "May", "Jun", "Jul"]
    assert labels("2020-01-01", "2024-06-01") == ["2020", "2021", "2022", "2023", "2024"]
    assert labels("2024-01-03 10:00", "2024-01-04 02:00") == ["03 Jan 12:00", "03 Jan 18:00", "04 Jan 00:00"]


def test_equity_chart_draws_strategy_and_buy_and_hold(equity, prices):
    benchmark = analysis.buy_and_hold(prices["close"], equity.index, 10_000)
    svg = charts.equity_chart(equity, benchmark, 10_000)
    words = texts(svg)
    assert "Strategy" in words and "Buy and hold" in words
    assert len(list(parse(svg).iter(f"{SVG}path"))) >= 3  # area, benchmark, strategy


def test_each_chart_is_well_formed_svg_for_data_and_for_nothing(equity, prices, trades):
    windows = analysis.trade_windows(prices, trades)
    assert [w.title.split(":")[0] for w in windows] == ["Best trade", "Worst trade"]
    labels, wins, losses = analysis.wins_losses_by(trades, "hour")
    drawn = [
        charts.drawdown_chart(analysis.drawdown_pct(equity)),
        charts.monthly_returns_heatmap(analysis.monthly_returns(equity, 10_000)),
        charts.price_chart(windows[0].prices, windows[0].marks, windows[0].title),
        charts.histogram_chart(trades["r_multiple"].to_numpy(), title="R"),
        charts.win_loss_bars(labels, wins, losses, title="By hour"),
        charts.compare_equity_chart([("a", equity / 100), ("b", equity / 90)]),
    ]
    empty = [
        charts.equity_chart(pd.Series(dtype=float), None, 10_000),
        charts.drawdown_chart(pd.Series(dtype=float)),
        charts.monthly_returns_heatmap(pd.DataFrame()),
        charts.price_chart(None, [], "Best trade"),
        charts.histogram_chart(np.array([np.nan]), title="R"),
        charts.win_loss_bars(["Mon"], np.zeros(1), np.zeros(1), title="By weekday"),
        charts.compare_equity_chart([]),
    ]
    for svg in drawn + empty:
        parse(svg)
    assert all(len(texts(svg)) == 1 for svg in empty), "an empty chart says why in one line"


def test_histogram_keeps_outliers_in_the_edge_bars():
    values = np.concatenate([np.full(60, -1.0), np.full(40, 2.0), [-25.0]])
    svg = charts.histogram_chart(values, title="R")
    assert any("outlier" in (t or "") for t in texts(svg))
    assert "-20" not in texts(svg), "the axis is not stretched to the outlier"


def test_price_chart_marks_every_trade_in_the_window(prices, trades):
    window = analysis.trade_windows(prices, trades)[0]
    svg = charts.price_chart(window.prices, window.marks, window.title)
    assert window.marks and svg.count("a3.5,3.5") == 2 * len(window.marks)  # one exit dot (two arcs) each


def test_every_chart_of_a_500_trade_report_is_drawn_with_its_content(equity, prices, trades):
    """What a report of 500 trades draws; how fast is measured by ``bench/report.py``, not here."""
    assert len(trades) == 500
    benchmark = analysis.buy_and_hold(prices["close"], equity.index, 10_000)
    equity_svg = charts.equity_chart(equity, benchmark, 10_000)
    assert {"Strategy", "Buy and hold", "Initial capital"} <= set(texts(equity_svg))

    drawdown = analysis.drawdown_pct(equity)
    assert f"max −{-drawdown.min():.2f}%" in texts(charts.drawdown_chart(drawdown))

    table = analysis.monthly_returns(equity, 10_000)
    heatmap = charts.monthly_returns_heatmap(table)
    assert len(list(parse(heatmap).iter(f"{SVG}rect"))) == 13 * len(table), "12 months and the year, per year"
    assert {str(year) for year in table.index} | {"Jan", "Dec", "Year"} <= set(texts(heatmap))

    windows = analysis.trade_windows(prices, trades)
    assert [w.title.split(":")[0] for w in windows] == ["Best trade", "Worst trade"]
    for window in windows:
        svg = charts.price_chart(window.prices, window.marks, window.title)
        assert window.title in texts(svg) and svg.count("a3.5,3.5") == 2 * len(window.marks)

    r = trades["r_multiple"].to_numpy(float)
    histogram = texts(charts.histogram_chart(r, title="R"))
    assert "R" in histogram and f"mean {r[np.isfinite(r)].mean():+.2f}R" in histogram

    decided = int((trades["pnl"] != 0).sum())
    for bucket in ("hour", "weekday"):
        labels, wins, losses = analysis.wins_losses_by(trades, bucket)
        assert wins.sum() + losses.sum() == decided, "every winning and losing trade is in a bar"
        words = texts(charts.win_loss_bars(labels, wins, losses, title=bucket))
        assert set(labels) <= set(words)
        assert sum(w.endswith("%") for w in words) == np.count_nonzero(wins + losses), "a win rate over each bar"


# ---- batch charts ---------------------------------------------------------------------------------


def test_score_heatmap_colours_each_cell_and_greys_a_cell_without_score():
    cells = {(7, 1.5): 0.4, (7, 3.0): 1.2, (14, 1.5): None, (14, 3.0): -0.3}
    svg = charts.score_heatmap("period", "takeProfit", cells, [7, 14], [1.5, 3.0], "sharpe")
    words = texts(svg)
    assert {"0.40", "1.20", "-0.30"} <= set(words) and {"7", "14", "1.5", "3"} <= set(words)
    assert "period" in words and "takeProfit" in words
    fills = [r.get("fill") for r in parse(svg).iter(f"{SVG}rect")]
    assert "#f3f4f6" in fills  # the cell without a score
    assert charts._ramp_color(1.0) == "#1a9850" and charts._ramp_color(0.0) == "#d73027"


def test_a_large_heatmap_thins_its_labels_and_writes_no_values():
    xs, ys = list(range(100)), list(range(60))
    cells = {(x, y): float(x + y) for x in xs for y in ys}
    svg = charts.score_heatmap("a", "b", cells, xs, ys, "pvs")
    words = texts(svg)
    assert len(words) < 60 and "158.00" not in words


def test_score_distribution_marks_the_best_run():
    svg = charts.score_distribution_chart([0.1, 0.5, None, 0.7, 1.1, 1.2, float("nan")], 1.2, "sharpe")
    assert "best 1.2" in texts(svg) and "sharpe" in texts(svg)


def test_score_distribution_counts_runs_in_whole_numbers():
    svg = charts.score_distribution_chart([0.2, 0.8, 1.0, 1.05, 1.2, 1.3], 1.3, "sharpe")  # at most 2 a bin
    counts = [w for w in texts(svg) if w.isdigit()]
    assert counts == sorted(set(counts), key=int) and "0" in counts, counts


def test_windows_timeline_has_a_row_per_window_and_segmented_equity_shades_each_window():
    windows = [
        {
            "index": k,
            "is_start": f"2024-{1 + k:02d}-01T00:00:00+00:00",
            "is_end": f"2024-{4 + k:02d}-01T00:00:00+00:00",
            "oos_end": f"2024-{5 + k:02d}-01T00:00:00+00:00",
        }
        for k in range(5)
    ]
    timeline = texts(charts.windows_timeline_chart(windows))
    assert [w for w in timeline if w.startswith("window")] == [f"window {k}" for k in range(1, 6)]
    assert "in sample (grid)" in timeline and "out of sample" in timeline
    equity = pd.Series(
        np.linspace(10_000, 11_000, 50), index=pd.date_range("2024-04-01", "2024-09-30", periods=50, tz="UTC")
    )
    spans = [(w["is_end"], w["oos_end"]) for w in windows]
    svg = charts.segmented_equity_chart(equity, 10_000, label="stitched out-of-sample equity", spans=spans)
    assert len(list(parse(svg).iter(f"{SVG}rect"))) == 5 and "stitched out-of-sample equity" in texts(svg)


def test_batch_charts_are_well_formed_when_empty():
    empty = [
        charts.score_heatmap("a", "b", {}, [], [], "sharpe"),
        charts.score_heatmap("a", "b", {(1, 2): None}, [1], [2], "sharpe"),
        charts.score_distribution_chart([None], None, "sharpe"),
        charts.windows_timeline_chart([]),
        charts.segmented_equity_chart(pd.Series(dtype=float), 10_000, label="best run equity"),
    ]
    assert all(len(texts(svg)) == 1 for svg in empty)
