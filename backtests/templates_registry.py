"""Lookup of strategy templates for other features (batches): id → request body."""

from backtests.strategies.templates import template_apply


def get_template_body(template_id: str, overrides: dict | None = None) -> dict:
    """The template's body with ``overrides`` deep-merged; CodedError TEMPLATE_NOT_FOUND."""
    return template_apply(template_id, overrides or {})
