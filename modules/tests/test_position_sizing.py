"""The sizing modules' constant outputs: the last one made is shared, read-only, and is what
``np.full`` gives, bit for bit. Pure: no Django."""

import numpy as np
import pandas as pd
import pytest

from modules.position_sizing._base import PositionSizingModule
from modules.registry import get_registry


@pytest.mark.parametrize(
    "length, value", [(0, 1.0), (1, 0.25), (1_000, 10.0), (1_000, 0.0), (1_000, -0.0), (7, np.nan)]
)
def test_a_constant_is_np_full_read_only(length, value):
    made = PositionSizingModule.constant(length, value)
    expected = np.full(length, float(value), dtype=np.float64)
    assert made.dtype == np.float64 and made.shape == (length,) and not made.flags.writeable
    assert made.tobytes() == expected.tobytes()  # bit for bit, the sign of a zero included
    with pytest.raises(ValueError):
        made[:1] = 5.0


def test_the_same_constant_is_shared_and_another_is_made_afresh():
    first = PositionSizingModule.constant(500, 0.5)
    assert PositionSizingModule.constant(500, 0.5) is first
    other = PositionSizingModule.constant(500, 0.25)
    assert other is not first and np.all(other == 0.25) and np.all(first == 0.5)
    assert PositionSizingModule.constant(501, 0.25).shape == (501,)
    assert np.signbit(PositionSizingModule.constant(3, -0.0)).all()
    assert not np.signbit(PositionSizingModule.constant(3, 0.0)).any()


@pytest.mark.parametrize("module_id", ["percent_of_equity", "fixed_units", "fixed_fraction", "kelly_fraction"])
def test_constant_sizing_modules_give_the_same_values_on_repeated_calls(module_id):
    index = pd.date_range("2024-01-01", periods=300, freq="h", tz="UTC", name="timestamp")
    close = 100.0 + np.sin(np.arange(300) / 5.0)
    data = pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0}, index=index
    )
    module = get_registry().get_module(module_id)()
    first = {k: np.array(v) for k, v in module.calculate_arrays(data, {}).items()}
    again = module.calculate_arrays(data, {})
    assert first.keys() == again.keys()
    for name, values in first.items():
        assert values.tobytes() == np.asarray(again[name]).tobytes()
