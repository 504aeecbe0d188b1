"""The base contract's helpers: categorical outputs, calculate_arrays, json params."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from modules.base import (
    BaseModule,
    FrozenJSON,
    Output,
    Param,
    categorical,
    category_dtype,
    freeze_json,
    labels_from_codes,
    thaw_json,
)
from modules.common.series import band_position, compare, position, zones
from modules.errors import ModuleConfigError, ModuleDataError
from modules.registry import get_registry

from .conftest import load_sample

REGISTRY = get_registry()


def reference_labels(mask_values, length, default):
    """The original object-array implementation: the first matching mask wins."""
    out = np.full(length, default, dtype=object)
    for mask, label in reversed(mask_values):
        out[mask] = label
    return out


def test_categorical_matches_first_match_wins_with_overlapping_masks():
    rng = np.random.default_rng(0)
    a, b, c = (rng.random(1000) > p for p in (0.5, 0.3, 0.8))
    masks = [(a, "x"), (b, "y"), (c, "x"), (a & b, "z")]
    got = categorical(masks, 1000, "none")
    assert isinstance(got, pd.Categorical) and got.codes.dtype == np.int8
    assert list(got.categories) == ["x", "y", "z", "none"]  # mask order, then the default
    assert np.array_equal(np.asarray(got), reference_labels(masks, 1000, "none"))
    ordered = categorical(masks, 1000, "none", values=("none", "z", "y", "x"))
    assert list(ordered.categories) == ["none", "z", "y", "x"]
    assert np.array_equal(np.asarray(ordered), np.asarray(got))


def test_categorical_comparisons_give_bool_arrays():
    labels = labels_from_codes(np.array([0, 1, 2, 0], dtype=np.int8), ("bullish", "bearish", "neutral"))
    eq = labels == "bullish"
    assert isinstance(eq, np.ndarray) and eq.dtype == bool
    assert eq.tolist() == [True, False, False, True]
    assert np.equal(labels, "bearish").tolist() == [False, True, False, False]
    assert (labels != "bullish").tolist() == [False, True, True, False]
    assert (labels == "not_a_label").tolist() == [False] * 4
    assert labels[1] == "bearish" and np.asarray(labels).dtype == object
    with pytest.raises(ValueError):
        labels_from_codes(np.array([0, 3]), ("a", "b"))


def test_series_helpers_match_mask_labels_with_nan_and_ties():
    rng = np.random.default_rng(1)
    a = np.round(rng.standard_normal(5000), 1)
    b = np.round(rng.standard_normal(5000), 1)
    a[::7] = np.nan
    b[::11] = np.nan
    with np.errstate(invalid="ignore"):
        assert np.array_equal(
            np.asarray(compare(a, b, ("hi", "lo", "eq"))), reference_labels([(a > b, "hi"), (a < b, "lo")], 5000, "eq")
        )
        assert np.array_equal(
            np.asarray(compare(a, b, ("hi", "lo", "na"), ties="low")),
            reference_labels([(a > b, "hi"), (a <= b, "lo")], 5000, "na"),
        )
        assert np.array_equal(
            np.asarray(compare(a, 0, ("up", "down", "flat"))),
            reference_labels([(a > 0, "up"), (a < 0, "down")], 5000, "flat"),
        )
        assert np.array_equal(
            np.asarray(position(a, b)), reference_labels([(a > b, "above"), (a < b, "below")], 5000, "neutral")
        )
        for upper, lower in ((0.5, -0.5), (0.2, 0.4)):  # overlapping levels: overbought wins
            assert np.array_equal(
                np.asarray(zones(a, upper, lower)),
                reference_labels([(a >= upper, "overbought"), (a <= lower, "oversold")], 5000, "neutral"),
            )
        # a band from b (inverted where b < 0) and the price a
        band_upper, band_lower = b + 0.3, -b
        assert np.array_equal(
            np.asarray(band_position(a, band_upper, band_lower, ("above", "below", "inside", "neutral"))),
            reference_labels(
                [(a > band_upper, "above"), (a < band_lower, "below"), (band_upper >= band_lower, "inside")],
                5000,
                "neutral",
            ),
        )


class _Toy(BaseModule):
    module_id = "toy"
    name = "Toy"
    category = "indicator"
    description = "test double"
    requires = ("close",)
    params = (Param("period", "integer", 3, min=1, max=10, key=True),)
    outputs = (
        Output("value", "numeric", primary=True),
        Output("side", "categorical", values=("up", "down", "flat")),
        Output("flag", "boolean"),
    )
    mode = "categorical"

    def compute(self, data, config):
        close = data["close"].to_numpy()
        side = {
            "categorical": categorical([(close > 100, "up"), (close < 100, "down")], len(close), "flat"),
            "objects": np.where(close > 100, "up", np.where(close < 100, "down", "flat")).astype(object),
            "undeclared": np.full(len(close), "sideways", dtype=object),
        }[self.mode]
        return {"value": data["close"].to_numpy(), "side": side, "flag": close > 100}


def toy_data():
    index = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    return pd.DataFrame({"close": [99.0, 101.0, 100.0, 102.0]}, index=index)


def test_calculate_arrays_representation_and_calculate_frame():
    data = toy_data()
    arrays = _Toy().calculate_arrays(data, {})
    assert list(arrays) == ["toy_3", "toy_3_side", "toy_3_flag"]
    side = arrays["toy_3_side"]
    assert isinstance(side, pd.Categorical) and list(side.categories) == ["up", "down", "flat"]
    assert (side == "up").tolist() == [False, True, False, True]
    assert arrays["toy_3"].dtype == np.float64 and arrays["toy_3_flag"].dtype == bool
    # never a view of the input, even when compute returns one
    assert not np.shares_memory(arrays["toy_3"], data["close"].to_numpy())
    objects = _Toy().calculate_arrays(data, {}, objects=True)["toy_3_side"]
    assert objects.dtype == object and objects.tolist() == ["down", "up", "flat", "up"]
    frame = _Toy().calculate(data, {"period": 5})
    assert list(frame.columns) == ["toy_5", "toy_5_side", "toy_5_flag"]
    assert isinstance(frame["toy_5_side"].dtype, pd.CategoricalDtype)
    assert frame["toy_5_side"].tolist() == ["down", "up", "flat", "up"]
    frame.iloc[0, 0] = -1.0
    assert data["close"].iloc[0] == 99.0


def test_label_arrays_from_compute_are_still_accepted_and_checked():
    data = toy_data()
    toy = _Toy()
    toy.mode = "objects"
    side = toy.calculate_arrays(data, {})["toy_3_side"]
    assert isinstance(side, pd.Categorical) and side.tolist() == ["down", "up", "flat", "up"]
    toy.mode = "undeclared"
    with pytest.raises(ModuleDataError, match="sideways"):
        toy.calculate_arrays(data, {})


def test_derived_outputs_are_computed_only_when_asked_for(monkeypatch):
    """A derived output (a callable from ``compute``) runs only for callers that ask for it:
    the engine asking for an EMA's value or Bollinger's bands skips the labels and ratios."""
    import modules.indicator.bollinger as bollinger
    import modules.moving_averages.ema as ema

    calls: list[str] = []
    real_position, real_derived = ema.position, bollinger._derived

    def position(*args):
        calls.append("position")
        return real_position(*args)

    def derived(*args):
        calls.append("bands")
        return real_derived(*args)

    monkeypatch.setattr(ema, "position", position)
    monkeypatch.setattr(bollinger, "_derived", derived)
    data = load_sample()

    assert list(ema.EMA().calculate_arrays(data, {}, outputs=["value"])) == ["ema_20"]
    bands = bollinger.Bollinger().calculate_arrays(data, {}, outputs=["upper", "lower"])
    assert list(bands) == ["bollinger_20_2_upper", "bollinger_20_2_lower"]
    assert calls == []

    assert list(ema.EMA().calculate_arrays(data, {})) == ["ema_20", "ema_20_position"]
    assert calls == ["position"]
    # %B, bandwidth and zone asked for together: still one pass
    bollinger.Bollinger().calculate_arrays(data, {}, outputs=["percent_b", "bandwidth", "zone"])
    assert calls == ["position", "bands"]
    assert len(bollinger.Bollinger().calculate(data, {}).columns) == len(bollinger.Bollinger.outputs)
    assert calls == ["position", "bands", "bands"]


def test_every_registry_categorical_output_is_int8_coded_in_declared_order():
    sample = load_sample().iloc[:300]
    for cls in REGISTRY.all():
        arrays = cls().calculate_arrays(sample, {})
        full = cls.validate_config({})
        for out in cls.outputs:
            if out.kind == "categorical":
                values = arrays[cls.column_name(full, out.name)]
                assert isinstance(values, pd.Categorical), (cls.module_id, out.name)
                assert values.dtype == category_dtype(out.values)
                assert tuple(values.categories) == out.values


def test_json_params_are_frozen_hashable_and_round_trip():
    param = Param("inner", "json", {}, schema_of=None)
    value = param.coerce("m", {"a": 1, "b": [1, {"c": "x"}], "d": None})
    assert isinstance(value, FrozenJSON) and hash(value) == hash(freeze_json(dict(value)))
    assert json.loads(json.dumps(value)) == {"a": 1, "b": [1, {"c": "x"}], "d": None}
    assert thaw_json(value) == {"a": 1, "b": [1, {"c": "x"}], "d": None}
    assert pickle.loads(pickle.dumps(value)) == value
    with pytest.raises(TypeError):
        value["a"] = 2
    for bad in ("x", 3, [1], {1: 2}, {"a": float("nan")}, {"a": object()}):
        with pytest.raises(ModuleConfigError) as err:
            param.coerce("m", bad)
        assert err.value.field == "inner"
    with pytest.raises(ValueError):
        Param("inner", "json", None)
    assert Param("inner", "json", {}, schema_of="module").to_schema()["schema_of"] == "module"
