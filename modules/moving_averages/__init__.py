"""moving averages modules."""
