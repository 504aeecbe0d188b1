"""One contract, checked for every module in the registry.

Given the shipped sample, each module returns columns as long as its input, does not mutate
the input, rejects bad params naming the field, and has no look-ahead: values computed on
data truncated at a random cut equal the full computation's values up to that cut.
"""

import numpy as np
import pandas as pd
import pytest

from modules.base import BaseModule
from modules.errors import ModuleConfigError
from modules.registry import get_registry

from .conftest import load_sample

REGISTRY = get_registry()
MODULE_IDS = [cls.module_id for cls in REGISTRY.all()]


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return np.allclose(a.astype(float), b.astype(float), equal_nan=True, rtol=1e-9, atol=1e-12)
    return bool(np.array_equal(a, b))


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_spec_is_complete(module_id):
    cls = REGISTRY.get_module(module_id)
    assert cls.name and cls.description and cls.outputs
    assert sum(o.primary for o in cls.outputs) == 1, "exactly one primary output"
    schema = cls.get_config_schema()
    assert [f["name"] for f in schema["fields"]] == [p.name for p in cls.params]
    cls.validate_config({})  # defaults are valid


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_output_shape_types_and_no_mutation(module_id, sample):
    cls = REGISTRY.get_module(module_id)
    before = sample.copy(deep=True)
    result = cls().calculate(sample, {})
    pd.testing.assert_frame_equal(sample, before)
    assert len(result) == len(sample) and result.index.equals(sample.index)
    defaults = cls.validate_config({})
    for output in cls.outputs:
        column = result[cls.column_name(defaults, output.name)].to_numpy()
        if output.kind == "numeric":
            assert column.dtype.kind == "f", output.name
            assert np.isfinite(column[~np.isnan(column)]).all()
            assert (~np.isnan(column)).sum() > 0, f"{output.name} is all NaN on the sample"
        elif output.kind == "boolean":
            assert column.dtype == bool, output.name
        else:
            assert set(np.unique(column.astype(str))) <= set(output.values or ()), output.name
    assert cls.column_name(defaults) in result.columns


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_no_look_ahead(module_id, sample):
    cls = REGISTRY.get_module(module_id)
    full = cls().calculate(sample, {})
    rng = np.random.default_rng(sum(map(ord, module_id)))
    for cut in sorted(rng.integers(60, len(sample) - 1, size=4)):
        part = cls().calculate(sample.iloc[:cut], {})
        for column in full.columns:
            assert _equal(full[column].to_numpy()[:cut], part[column].to_numpy()), (
                f"{module_id}.{column} changes when later bars are removed (cut at {cut})"
            )


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_bad_params_are_rejected_naming_the_field(module_id):
    cls: type[BaseModule] = REGISTRY.get_module(module_id)
    with pytest.raises(ModuleConfigError) as err:
        cls.validate_config({"no_such_param": 1})
    assert err.value.field == "no_such_param"
    for param in cls.params:
        bad_values = {
            "number": ["x", float("nan")],
            "integer": [1.5, "x"],
            "boolean": ["yes", 1],
            "select": ["__nope__", 3],
            "json": ["x", 3, [1, 2]],
        }[param.type]
        if param.schema_of:  # a module's config: validated by that module
            bad_values.append({"__no_such_param__": 1})
        if param.max is not None:
            bad_values.append(param.max + (param.step or 1))
        if param.min is not None:
            bad_values.append(param.min - (param.step or 1))
        for bad in bad_values:
            with pytest.raises(ModuleConfigError) as err:
                cls.validate_config({param.name: bad})
            assert err.value.field == param.name


def test_registry_lists_by_category_and_suggests_close_matches():
    listed = REGISTRY.list_available_modules()
    assert "rsi" in listed["indicator"]
    from modules.errors import ModuleNotFound

    with pytest.raises(ModuleNotFound) as err:
        REGISTRY.get_module("rsii")
    assert "rsi" in err.value.close_matches


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_short_inputs_give_warm_up_values_not_errors(module_id, sample):
    """0 to 8 bars: outputs of the right length (a module may refuse with ModuleDataError
    only when it cannot work at all, e.g. htf_filter inferring a timeframe from one bar)."""
    from modules.errors import ModuleDataError

    cls = REGISTRY.get_module(module_id)
    for n in (0, 1, 2, 3, 8):
        try:
            result = cls().calculate(sample.iloc[:n], {})
        except ModuleDataError:
            assert n < 2, f"{module_id} refuses {n} bars"
            continue
        assert len(result) == n and len(result.columns) == len(cls.outputs)


@pytest.mark.parametrize("module_id", MODULE_IDS)
def test_each_output_asked_for_alone_equals_the_full_computation(module_id, sample):
    """``calculate_arrays(outputs=[name])`` returns that output only, identical to the one
    computed with all the others."""
    cls = REGISTRY.get_module(module_id)
    defaults = cls.validate_config({})
    full = cls().calculate_arrays(sample, {})
    for output in cls.outputs:
        column = cls.column_name(defaults, output.name)
        alone = cls().calculate_arrays(sample, {}, outputs=[output.name])
        assert list(alone) == [column]
        assert np.array_equal(np.asarray(alone[column]), np.asarray(full[column]), equal_nan=output.kind == "numeric")
    with pytest.raises(ModuleConfigError) as err:
        cls().calculate_arrays(sample, {}, outputs=["__no_such_output__"])
    assert err.value.field == "outputs"
