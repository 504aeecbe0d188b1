"""Login attempts per client address (QM_LOGIN_RATE, default 10/min): JWT obtain and refresh.
Counted in Django's cache (Redis in production, so every web process shares the count); a 429
carries Retry-After."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class LoginAddressThrottle(SimpleRateThrottle):
    scope = "login"

    def get_rate(self) -> str:
        return settings.QM_LOGIN_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
