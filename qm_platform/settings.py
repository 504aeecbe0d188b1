"""QuantMetrics settings, read from the environment (see README "Configuration").

Defaults are the embedded ones: SQLite and a filesystem Celery broker under var/, local
Parquet storage, synthetic data. Production sets DATABASE_URL, CELERY_BROKER_URL etc.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from .env import env_bool, env_choice, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("QM_VAR_DIR", BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)
# prometheus_client's multiprocess mode: every process writes its samples here.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
if not DEBUG and SECRET_KEY.startswith("dev-only") and env_bool("QM_REQUIRE_SECRET_KEY", False):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_beat",
    "backtests",
    "marketdata",
    "reports",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "qm_platform.urls"
WSGI_APPLICATION = "qm_platform.wsgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

# --- database ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'quantmetrics.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except Exception as exc:  # dj_database_url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL;"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# WhiteNoise serves static files from the app (admin and Swagger assets) under gunicorn;
# in the embedded demo it finds them without collectstatic.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = env_path("QM_ARTIFACT_DIR", VAR_DIR / "artifacts")
LOGIN_URL = "/accounts/login/"

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "qm_platform.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("QM_API_RATE", "6000/min")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "QuantMetrics API",
    "DESCRIPTION": "Submit declarative backtests, poll their progress, fetch trades and reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery -----------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
EMBEDDED_BROKER = CELERY_BROKER_URL.startswith("filesystem://")
QM_TASK_SOFT_TIME_LIMIT = env_int("QM_TASK_SOFT_TIME_LIMIT", 600, min_value=1)
QM_TASK_TIME_LIMIT = env_int("QM_TASK_TIME_LIMIT", 660, min_value=2)
if QM_TASK_TIME_LIMIT <= QM_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("QM_TASK_TIME_LIMIT must be larger than QM_TASK_SOFT_TIME_LIMIT")
if EMBEDDED_BROKER:
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    # The filesystem transport has no fanout exchange: no remote control or events.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
else:
    # Redelivery after a lost worker must not happen before the hard time limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": QM_TASK_TIME_LIMIT * 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep Django's LOGGING (run ids, JSON) in workers
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = QM_TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = QM_TASK_TIME_LIMIT
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "backtests"
CELERY_TASK_QUEUES = (
    Queue("backtests", Exchange("backtests", type="direct"), routing_key="backtests"),
    Queue("reports", Exchange("reports", type="direct"), routing_key="reports"),
    Queue("data", Exchange("data", type="direct"), routing_key="data"),
)
CELERY_TASK_ROUTES = {
    "backtests.tasks.*": {"queue": "backtests"},
    "reports.tasks.*": {"queue": "reports"},
    "marketdata.tasks.*": {"queue": "data"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
QM_HEARTBEAT_TIMEOUT = env_int("QM_HEARTBEAT_TIMEOUT", 120, min_value=1)
QM_MAX_ATTEMPTS = env_int("QM_MAX_ATTEMPTS", 3, min_value=1, max_value=20)
CELERY_BEAT_SCHEDULE = {
    "dispatch-queued-runs": {"task": "backtests.tasks.dispatch_queued_runs", "schedule": 15.0},
    "reap-stale-runs": {"task": "backtests.tasks.reap_stale_runs",
                        "schedule": float(max(5, QM_HEARTBEAT_TIMEOUT // 2))},
}

# --- QuantMetrics -----------------------------------------------------------------------
QM_STORAGE_BACKEND = env_choice("QM_STORAGE_BACKEND", "local", ("local",))
QM_DATA_DIR = env_path("QM_DATA_DIR", VAR_DIR / "market_cache")
QM_DEFAULT_DATA_SOURCE = env_choice("QM_DEFAULT_DATA_SOURCE", "synthetic", ("synthetic", "yahoo"))
_system_chromium = shutil.which("chromium") or shutil.which("chromium-browser") or ""
QM_CHROMIUM_PATH = env_str("QM_CHROMIUM_PATH", _system_chromium)
if QM_CHROMIUM_PATH and not Path(QM_CHROMIUM_PATH).exists():
    raise ImproperlyConfigured(f"QM_CHROMIUM_PATH points to a missing file: {QM_CHROMIUM_PATH}")
QM_RENDER_PDF = env_bool("QM_RENDER_PDF", True)
QM_REPORT_PAGE_SIZE = env_choice("QM_REPORT_PAGE_SIZE", "A4", ("A4", "Letter"))
QM_PROGRESS_MIN_INTERVAL = float(env_int("QM_PROGRESS_MIN_INTERVAL_MS", 1000, min_value=0)) / 1000
QM_MAX_BARS = env_int("QM_MAX_BARS", 5_000_000, min_value=1000)

QM_LOG_FORMAT = env_choice("QM_LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"run_id": {"()": "qm_platform.observability.RunIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [run %(run_id)s]: %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(run_id)s",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": QM_LOG_FORMAT,
                             "filters": ["run_id"]}},
    "root": {"handlers": ["console"], "level": env_str("QM_LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
