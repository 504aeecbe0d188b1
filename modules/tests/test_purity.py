"""The module library and the backtest engine are pure Python: no Django (nor the market-data app).

Each check runs in a fresh interpreter (this test process may have Django loaded by other
tests or plugins), imports every registry module and the engine, and lists what got imported.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from modules.registry import get_registry
registry = get_registry()
modules = [cls.module_id for cls in registry.all()]
import backtests.engine
import backtests.engine.conditions, backtests.engine.run, backtests.engine.simulate
import backtests.engine.strategy
from modules.common import resample
impure = ("django", "rest_framework", "celery", "marketdata")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in impure)
print(json.dumps({"modules": modules, "loaded": loaded}))
"""


def run_isolated(script: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_modules_and_engine_import_without_django():
    result = run_isolated(SCRIPT)
    assert len(result["modules"]) >= 68
    assert "htf_filter" in result["modules"]
    assert result["loaded"] == [], f"imported {result['loaded']}"


def test_the_check_would_see_django():
    assert "django" in run_isolated("import django.conf\n" + SCRIPT)["loaded"]
