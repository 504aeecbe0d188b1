"""Reads: what a run's report is rendered from."""

import pytest

from backtests import selectors
from reports.tests.factories import stored_run

pytestmark = pytest.mark.django_db


def test_report_inputs_are_the_trades_in_order_and_the_stored_report_data(alice):
    run = stored_run(alice, trades=5)
    inputs = selectors.report_inputs_for_run(run=run)
    assert [t.seq for t in inputs.trades] == [1, 2, 3, 4, 5]
    assert inputs.extras == run.report_data and inputs.extras["has_prices"]
    best = max(inputs.trades, key=lambda t: t.pnl)
    assert inputs.extras["trade_windows"][0]["bars"]["time"][0] <= best.entry_time.isoformat()
