"""Test settings: the real services on loopback (PostgreSQL and Redis), overridable by env.

``QM_TEST_DB`` and ``QM_TEST_REDIS_DB`` let several test runs share one machine without
sharing a database or a broker queue.
"""

import os

_db = os.environ.get("QM_TEST_DB", "quantmetrics")
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{_db}")
os.environ.setdefault("CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{os.environ.get('QM_TEST_REDIS_DB', '14')}")
os.environ.setdefault(
    "QM_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", f"test-{_db}")
)

from .settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
QM_PROGRESS_MIN_INTERVAL = 0.2
