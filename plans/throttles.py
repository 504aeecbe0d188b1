"""DRF throttles for submissions: per user at the plan's rate, and per client address.

Counted in Django's cache: Redis in production (QM_CACHE_URL), so every web process shares
the counts; a 429 carries Retry-After (the API's error handler adds it)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from plans.selectors import plan_for_user


class PlanSubmitThrottle(SimpleRateThrottle):
    """Submissions per user, at the rate of the user's plan (Free: 10/min)."""

    scope = "submit"

    def get_rate(self) -> str | None:
        return None  # known once the request's user is: see allow_request

    def allow_request(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True  # authentication answers 401 first
        plan = plan_for_user(user=request.user)
        request.submit_plan = plan  # the submission reads it from here: one query a request, not two
        self.rate = plan.submit_rate
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class SubmitAddressThrottle(SimpleRateThrottle):
    """Submissions per client address, whoever the user (QM_SUBMIT_ADDRESS_RATE)."""

    scope = "submit_address"

    def get_rate(self) -> str:
        return settings.QM_SUBMIT_ADDRESS_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


SUBMIT_THROTTLES = [PlanSubmitThrottle, SubmitAddressThrottle]
