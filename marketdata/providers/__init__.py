"""Data providers. Each implements ``download(symbol, timeframe, start, end) -> DataFrame``:
OHLCV columns (open, high, low, close, volume) on a timezone-aware DatetimeIndex, possibly
unsorted or with duplicates — normalising, validating and saving happen once, in the manager.

Failures are one of the exceptions below, so the manager knows what to retry.
"""

from __future__ import annotations

from qm_platform.errors import CodedError


class ProviderError(CodedError):
    """A provider could not deliver; ``details`` says why in machine-readable form."""

    code = "DATA_UNAVAILABLE"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(None, message, details)


class ProviderUnavailable(ProviderError):
    """Transient: the network, a timeout, a 5xx or a rate limit. Worth retrying later."""


class DataRangeUnavailable(ProviderError):
    """Permanent: the provider does not serve this timeframe this far back (or this long)."""

    code = "DATA_RANGE_UNAVAILABLE"


class SymbolNotFound(ProviderError):
    """Permanent: the provider does not know the symbol."""
