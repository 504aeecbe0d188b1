"""marketContext.warmup: data before the window warms indicators up; it is never traded or
measured. (Walk-forward windows use it too: batches/tests/test_batches.py.)"""

import pandas as pd
import pytest
from django.test import override_settings

from backtests import services
from backtests.models import RunStatus, Trade

from .factories import v4_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_pdf")]


@pytest.fixture
def no_pdf():
    with override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        yield


def ema_cross(**changes):
    body = v4_body(**changes)
    body["decisionBlocks"] = [
        {
            "subConfirmations": [
                {
                    "moduleId": "ema",
                    "config": {"period": 100, "operator": "crosses_below", "value": {"column": "close"}},
                }
            ]
        }
    ]
    return body


def test_a_warm_run_trades_from_the_first_bar_and_measures_only_its_window(alice, alice_api):
    window = dict(marketContext__startDate="2024-03-01T00:00:00Z", marketContext__endDate="2024-05-01T00:00:00Z")
    cold = services.backtest_submit(user=alice, body=ema_cross(**window))
    warm = services.backtest_submit(user=alice, body=ema_cross(marketContext__warmup="1mo", **window))
    for run in (cold, warm):
        assert services.backtest_execute(run_id=run.id) == RunStatus.SUCCEEDED
        run.refresh_from_db()
    start = pd.Timestamp("2024-03-01", tz="UTC")
    assert warm.warmup_start == start - pd.Timedelta(days=30) and cold.warmup_start is None
    assert warm.data_start >= start and warm.bars == cold.bars  # the same measured window
    assert pd.Timestamp(warm.equity_curve[0][0]) >= start
    assert Trade.objects.filter(run=warm, entry_time__lt=start).count() == 0
    # Cold, EMA(100) on hourly bars needs ~100 bars (4+ trading days) before its first signal.
    first_cold = Trade.objects.filter(run=cold).order_by("entry_time").first()
    first_warm = Trade.objects.filter(run=warm).order_by("entry_time").first()
    assert first_warm.entry_time < first_cold.entry_time
    bad = alice_api.post("/api/v1/backtests", ema_cross(marketContext__warmup="a while", **window), format="json")
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "marketContext.warmup"
