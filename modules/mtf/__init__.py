"""Multi-timeframe modules: other modules computed on a higher timeframe, without look-ahead."""
