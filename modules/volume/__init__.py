"""Volume modules: VWAP, volume profile, OBV, CMF, A/D line, Force Index."""
