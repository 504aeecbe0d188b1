"""Data providers. Each implements ``download(symbol, timeframe, start, end) -> DataFrame``."""
