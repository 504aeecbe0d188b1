"""docs/modules.md is generated from the registry; it must match what the generator writes."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_module_docs", ROOT / "scripts" / "gen_module_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_catalogue_is_up_to_date():
    generator = load_generator()
    path = ROOT / "docs" / "modules.md"
    assert path.exists(), "docs/modules.md is missing: run python3 scripts/gen_module_docs.py"
    assert path.read_text() == generator.render(), (
        "docs/modules.md is out of date with the registry: run python3 scripts/gen_module_docs.py"
    )


def test_catalogue_lists_every_module_with_params_and_outputs():
    from modules.registry import get_registry

    text = (ROOT / "docs" / "modules.md").read_text()
    for cls in get_registry().all():
        assert f"### `{cls.module_id}` — {cls.name}" in text
        for param in cls.params:
            assert f"`{param.name}`" in text
        for output in cls.outputs:
            assert f"`{output.name}`" in text
