"""The module library: pure indicator and pattern modules, discovered by the registry.

Nothing in this package imports Django; inputs are OHLCV DataFrames, outputs new columns.
"""
