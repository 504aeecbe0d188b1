from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLE = Path(__file__).parent / "data" / "ohlcv_sample.csv"


def load_sample() -> pd.DataFrame:
    """1,590 hourly bars of synthetic XAUUSD shipped with the repo (weekends closed)."""
    df = pd.read_csv(SAMPLE, index_col=0)
    df.index = pd.DatetimeIndex(pd.to_datetime(df.index, utc=True), name="timestamp")
    return df.astype(np.float64)


@pytest.fixture
def ohlcv() -> pd.DataFrame:
    return load_sample()
