"""momentum modules."""
