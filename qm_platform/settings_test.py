"""Test settings: the real services on loopback (PostgreSQL and Redis), overridable by env.

``QM_TEST_DB`` and ``QM_TEST_REDIS_DB`` let several test runs share one machine without
sharing a database or a broker queue.
"""

import os

_db = os.environ.get("QM_TEST_DB", "quantmetrics")
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{_db}")
os.environ.setdefault("CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{os.environ.get('QM_TEST_REDIS_DB', '14')}")
# The tests run with DEBUG off, like production, over plain HTTP (test client, live server):
# a fixed test-only key (never deployed) and HTTPS redirects, Secure cookies and HSTS off.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-key-not-secret-0123456789abcdefghijklmnop")
os.environ.setdefault("QM_SSL_REDIRECT", "0")
os.environ.setdefault("QM_SECURE_COOKIES", "0")
os.environ.setdefault("QM_HSTS_SECONDS", "0")
os.environ.setdefault(
    "QM_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", f"test-{_db}")
)

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
QM_PROGRESS_MIN_INTERVAL = 0.2
