"""Position sizing modules: how many units an entry buys. See docs/engine.md#sizing."""
