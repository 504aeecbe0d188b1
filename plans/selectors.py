"""Reads: the plan a user is on."""

from __future__ import annotations

from plans.defaults import DEFAULT_SLUG, PLANS
from plans.models import Plan, UserPlan


def plan_for_user(*, user) -> Plan:
    """The user's assigned plan, else the default plan (Free; restored from the shipped
    definition if the table has none)."""
    assignment = UserPlan.objects.select_related("plan").filter(user_id=user.pk).first()
    if assignment is not None:
        return assignment.plan
    default = Plan.objects.filter(is_default=True).first()
    if default is None:
        default, _ = Plan.objects.get_or_create(slug=DEFAULT_SLUG, defaults=PLANS[DEFAULT_SLUG])
    return default
