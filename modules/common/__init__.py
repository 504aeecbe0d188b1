"""Shared helper code for modules (not a category)."""
