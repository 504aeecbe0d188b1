"""accounts sits just above qm_platform: it never imports the apps above it (they fill its
GDPR registry instead)."""

from qm_platform.tests.test_layers import import_graph

ABOVE = ("modules", "marketdata", "reports", "backtests", "batches", "workers")


def test_accounts_imports_nothing_above_it():
    upward = [
        f"{name} → {target}"
        for name, targets in import_graph().items()
        if name == "accounts" or name.startswith("accounts.")
        for target in targets
        if target.split(".")[0] in ABOVE
    ]
    assert not upward, upward


def test_the_apps_above_may_use_accounts():
    graph = import_graph()
    assert "accounts.privacy" in graph["backtests.selectors"]
    assert "accounts.services" in graph["backtests.api.views"]
