"""What Django's error pages and error e-mails may show (``DEFAULT_EXCEPTION_REPORTER_FILTER``).

Django hides settings and request variables whose names look like keys and passwords; ours also
hides URL-shaped ones (``DATABASE_URL``, ``CELERY_BROKER_URL``, ``QM_CACHE_URL``, the result
backend, cache locations), everything about S3, and any value that is a URL with a user or
password in it, whatever its name.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter as DjangoSafeExceptionReporterFilter

# Django's own list, then the names that hold URLs, hosts and the object store's configuration.
HIDDEN_NAMES = re.compile(
    r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE"
    r"|URL|URI|DSN|BROKER|BACKEND|LOCATION|HOST|QM_S3_|AWS_|DATABASE",
    flags=re.IGNORECASE,
)
# scheme://user@host or scheme://user:password@host
CREDENTIALS_IN_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@]*@", flags=re.IGNORECASE)


class SafeExceptionReporterFilter(DjangoSafeExceptionReporterFilter):
    hidden_settings = HIDDEN_NAMES

    def cleanse_setting(self, key, value):
        if isinstance(value, str) and CREDENTIALS_IN_URL.search(value):
            return self.cleansed_substitute
        return super().cleanse_setting(key, value)
