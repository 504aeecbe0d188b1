"""KPI cards: values with units, plain-language readings, n/a for what is missing."""

from reports import kpis


def card(cards, key):
    return next(c for c in cards if c["key"] == key)


def test_every_summary_kpi_has_a_card_and_missing_ones_say_n_a():
    cards = kpis.summary({"net_return_pct": 5.0, "sharpe": None})
    assert [c["key"] for c in cards] == [k.key for k in kpis.SUMMARY]
    assert card(cards, "net_return_pct")["text"] == "+5.00%"
    for key in ("sharpe", "pvs", "esi", "cagr_pct"):
        assert card(cards, key)["text"] == "n/a" and card(cards, key)["reading"]


def test_readings_say_what_the_number_means():
    cards = kpis.summary(
        {
            "pvs": 91.0,
            "profit_factor": 0.8,
            "max_drawdown_pct": 31.0,
            "win_rate": 41.0,
            "payoff_ratio": 2.2,
            "net_return_pct": 12.0,
            "buy_and_hold_return_pct": 20.0,
        }
    )
    assert card(cards, "pvs")["reading"] == "PVS 91: strong statistical evidence the edge is not luck."
    assert card(cards, "profit_factor")["reading"].startswith("Losses outweigh wins")
    assert "many traders abandon" in card(cards, "max_drawdown_pct")["reading"]
    assert "2.20×" in card(cards, "win_rate")["reading"]
    assert "Trailed simply holding the market (+20.0%)" in card(cards, "net_return_pct")["reading"]
    assert card(cards, "pvs")["tone"] == "good" and card(cards, "profit_factor")["tone"] == "bad"


def test_trade_count_falls_back_to_the_run_column():
    assert card(kpis.summary({}, trade_count=42), "trade_count")["text"] == "42"


def test_other_metrics_show_known_and_unknown_keys_with_units():
    rows = kpis.other_metrics(
        {
            "payoff_ratio": 1.5,
            "exposure_pct": 12.345,
            "brand_new_r": 0.5,
            "strategy_text": "x",
            "sharpe": 1.0,
            "nested": {"a": 1},
            "largest_loss": None,
        }
    )
    by_key = {r["key"]: r for r in rows}
    assert by_key["payoff_ratio"]["label"] == "Payoff ratio" and by_key["exposure_pct"]["text"] == "12.35%"
    assert by_key["brand_new_r"] == {"key": "brand_new_r", "label": "Brand new r", "text": "+0.50 R"}
    assert by_key["largest_loss"]["text"] == "n/a"
    assert not {"strategy_text", "sharpe", "nested"} & set(by_key)


def test_definitions_cover_the_summary_and_the_metrics_present():
    labels = [d["label"] for d in kpis.definitions({"calmar": 1.0})]
    assert labels[: len(kpis.SUMMARY)] == [k.label for k in kpis.SUMMARY]
    assert "Calmar" in labels and "SQN" not in labels
