"""QuantMetrics settings, read from the environment (see README "Configuration").

Defaults are the embedded ones: SQLite and a filesystem Celery broker under var/, local
Parquet storage, synthetic data. Production sets DATABASE_URL, CELERY_BROKER_URL etc.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from workers import routing

from .env import env_bool, env_choice, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("QM_VAR_DIR", BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)
# prometheus_client's multiprocess mode: every process writes its samples here.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

DEV_SECRET_KEY = "dev-only-insecure-key-change-me"  # public: refused whenever DEBUG is off (see "hardening" below)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "django_celery_beat",
    "accounts",  # after token_blacklist: its admin extends simplejwt's
    "plans",
    "backtests",
    "marketdata",
    "reports",
    "batches",
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

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "qm_platform" / "templates"],  # admin/base_site.html: the admin's product look
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- database ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'quantmetrics.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except Exception as exc:  # dj_database_url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
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
LOGIN_REDIRECT_URL = "/runs/"  # not Django's /accounts/profile/, which is no page here

# --- cache (API throttling) ------------------------------------------------------------------
# Per process by default; set QM_CACHE_URL=redis://host:6379/1 so every web process shares the
# throttle counters.
QM_CACHE_URL = env_str("QM_CACHE_URL", "")
# Submissions from one client address per period, whoever the user (plans.throttles).
QM_SUBMIT_ADDRESS_RATE = env_str("QM_SUBMIT_ADDRESS_RATE", "120/min")
# Login attempts (JWT obtain and refresh) per client address (accounts.throttles).
QM_LOGIN_RATE = env_str("QM_LOGIN_RATE", "10/min")
if QM_CACHE_URL and not QM_CACHE_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured(f"QM_CACHE_URL must be a redis:// URL, got {QM_CACHE_URL!r}")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": QM_CACHE_URL}
        if QM_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # The first class's scheme goes in WWW-Authenticate on a 401 (accounts/authentication.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "DEFAULT_PARSER_CLASSES": [
        "qm_platform.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "qm_platform.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("QM_API_RATE", "6000/min")},  # reads; submissions: plans
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "QuantMetrics API",
    "DESCRIPTION": "Submit declarative backtests, poll their progress, fetch trades and reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "backtests.models.RunStatus",
        "BatchStatusEnum": "batches.models.BatchStatus",
        "BatchModeEnum": "batches.models.BatchMode",
        "TimeframeEnum": "marketdata.timeframes.TIMEFRAME_SECONDS",
        "StrategyKindEnum": "backtests.models.StrategyKind",  # v4 | ict (saved strategies, templates)
    },
}

# --- JWT (accounts/: djangorestframework-simplejwt) ------------------------------------------
# Short-lived access tokens; refresh tokens rotate and the one traded in is blacklisted, as is
# one sent to /api/v1/auth/logout. Signed with SECRET_KEY (HS256).
import datetime as _dt  # noqa: E402

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": _dt.timedelta(minutes=env_int("QM_JWT_ACCESS_MINUTES", 10, min_value=1, max_value=1440)),
    "REFRESH_TOKEN_LIFETIME": _dt.timedelta(days=env_int("QM_JWT_REFRESH_DAYS", 7, min_value=1, max_value=90)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# --- end JWT ---

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
    # Redelivery after a lost worker must not happen before the hard time limit. Priorities
    # (plans.Plan.priority): one Redis list per level, 0 served first; per-user concurrency
    # limits at dispatch keep any one user from filling a level (backtests.services).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": QM_TASK_TIME_LIMIT * 2,
        "priority_steps": list(range(10)),
        "sep": ":",
        "queue_order_strategy": "priority",
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep Django's LOGGING (run ids, JSON) in workers
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes every database connection before and after each task unless this
# is set: a new PostgreSQL connection (a backend process started, authenticated and ended) for
# every run. Set, a task keeps its process's connection as a web request keeps its thread's:
# Django's close_old_connections before and after each task (workers.signals) closes it once
# CONN_MAX_AGE has passed or after an error, and the fix-up closes it outright every this many tasks.
CELERY_DB_REUSE_MAX = env_int("QM_DB_REUSE_MAX", 1000, min_value=0)
CELERY_TASK_SOFT_TIME_LIMIT = QM_TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = QM_TASK_TIME_LIMIT
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Queues, routes and the beat schedule: workers/routing.py.
CELERY_TASK_DEFAULT_QUEUE = routing.DEFAULT_QUEUE
CELERY_TASK_QUEUES = routing.QUEUES
CELERY_TASK_ROUTES = routing.ROUTES
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
QM_HEARTBEAT_TIMEOUT = env_int("QM_HEARTBEAT_TIMEOUT", 120, min_value=1)
QM_MAX_ATTEMPTS = env_int("QM_MAX_ATTEMPTS", 3, min_value=1, max_value=20)
# A run sent to the broker and not claimed by any worker within this many seconds is sent again
# (its message may be lost: a broker restart without persistence, a failover); the conditional
# claim makes the duplicate harmless (backtests.services.backtest_redispatch_unclaimed).
QM_REDISPATCH_SECONDS = env_int("QM_REDISPATCH_SECONDS", 300, min_value=1)

# --- QuantMetrics -----------------------------------------------------------------------
QM_STORAGE_BACKEND = env_choice("QM_STORAGE_BACKEND", "local", ("local", "s3"))
QM_DATA_DIR = env_path("QM_DATA_DIR", VAR_DIR / "market_cache")
QM_DEFAULT_DATA_SOURCE = env_choice("QM_DEFAULT_DATA_SOURCE", "synthetic", ("synthetic", "yahoo"))
_system_chromium = shutil.which("chromium") or shutil.which("chromium-browser") or ""
QM_CHROMIUM_PATH = env_str("QM_CHROMIUM_PATH", _system_chromium)
if QM_CHROMIUM_PATH and not Path(QM_CHROMIUM_PATH).exists():
    raise ImproperlyConfigured(f"QM_CHROMIUM_PATH points to a missing file: {QM_CHROMIUM_PATH}")
QM_RENDER_PDF = env_bool("QM_RENDER_PDF", True)
# The worker that ran a backtest prints its PDF right away (one task per run); off: a report task on
# the ``reports`` queue prints it (for a fleet whose Chromium lives on specialised report workers).
QM_REPORT_IN_RUN_TASK = env_bool("QM_REPORT_IN_RUN_TASK", True)
QM_REPORT_PAGE_SIZE = env_choice("QM_REPORT_PAGE_SIZE", "A4", ("A4", "Letter"))
QM_PROGRESS_MIN_INTERVAL = float(env_int("QM_PROGRESS_MIN_INTERVAL_MS", 1000, min_value=0)) / 1000
# Between progress writes a worker still looks whether its run was cancelled this often (one
# indexed single-row read), so a cancel stops a run within about this long at any stage.
QM_CANCEL_CHECK_INTERVAL = float(env_int("QM_CANCEL_CHECK_INTERVAL_MS", 250, min_value=10)) / 1000
QM_MAX_BARS = env_int("QM_MAX_BARS", 5_000_000, min_value=1000)

QM_LOG_FORMAT = env_choice("QM_LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"run_id": {"()": "qm_platform.observability.RunIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [run %(run_id)s]: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(run_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": QM_LOG_FORMAT, "filters": ["run_id"]}},
    "root": {"handlers": ["console"], "level": env_str("QM_LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}


# --- hardening (issue 17): secret key, HTTPS, CSP, error pages, /metrics, uploads, schema ----
# Production is the default: DEBUG is off unless DJANGO_DEBUG=1, and with DEBUG off start-up
# refuses the public development key or any key shorter than 32 characters. Plain-HTTP set-ups
# (the embedded demo on http://127.0.0.1, the tests) switch HTTPS off explicitly with
# QM_SSL_REDIRECT=0 QM_SECURE_COOKIES=0 QM_HSTS_SECONDS=0. See README "Production".
QM_MIN_SECRET_KEY_LENGTH = 32
if not DEBUG and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < QM_MIN_SECRET_KEY_LENGTH):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be a random value of at least "
        f"{QM_MIN_SECRET_KEY_LENGTH} characters when DEBUG is off (it is "
        + ("the public development key" if SECRET_KEY == DEV_SECRET_KEY else f"{len(SECRET_KEY)} characters")
        + "). Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'; "
        "or set DJANGO_DEBUG=1 for local development."
    )

# HTTPS. Behind a TLS-terminating proxy set QM_SECURE_PROXY_SSL_HEADER to the header and value
# the proxy sets on HTTPS requests (e.g. X-Forwarded-Proto=https), and make sure the proxy
# overwrites that header from clients.
SECURE_SSL_REDIRECT = env_bool("QM_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("QM_SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = env_int("QM_HSTS_SECONDS", 0 if DEBUG else 31_536_000, min_value=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("QM_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("QM_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
_proxy_header = env_str("QM_SECURE_PROXY_SSL_HEADER", "")
if _proxy_header:
    _name, _sep, _value = _proxy_header.partition("=")
    if not _sep or not _name.strip() or not _value.strip():
        raise ImproperlyConfigured(
            f"QM_SECURE_PROXY_SSL_HEADER must be HEADER=VALUE, e.g. X-Forwarded-Proto=https; got {_proxy_header!r}"
        )
    _meta = _name.strip().upper().replace("-", "_")
    SECURE_PROXY_SSL_HEADER = (_meta if _meta.startswith("HTTP_") else f"HTTP_{_meta}", _value.strip())

# Content-Security-Policy (django-csp): scripts only from this origin or inline with the
# per-request nonce (templates: <script nonce="{{ request.csp_nonce }}">); styles from this
# origin or inline (the pages and the report's charts use inline style attributes); no plugins,
# no framing, forms post only here. The Swagger UI's assets are served from this origin too.
INSTALLED_APPS += ["csp", "drf_spectacular_sidecar"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SPECTACULAR_SETTINGS.update(
    {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
)

# Error pages never show secrets: the debug page's settings and request environment hide
# URL-shaped values (they carry credentials) besides Django's usual keys and passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "qm_platform.debug.SafeExceptionReporterFilter"

# /metrics answers only a bearer token (Authorization: Bearer <QM_METRICS_TOKEN>) or a peer
# address in QM_METRICS_ALLOW (comma-separated IPs or networks, e.g. 10.0.0.0/8); with neither
# set it is 404.
QM_METRICS_TOKEN = env_str("QM_METRICS_TOKEN", "")
QM_METRICS_ALLOW = env_list("QM_METRICS_ALLOW", [])
for _network in QM_METRICS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"QM_METRICS_ALLOW must list IP addresses or networks (e.g. 10.0.0.0/8), got {_network!r}"
        ) from None

# Uploads above this many bytes spool to a temporary file instead of memory; the CSV size
# limit (QM_CSV_MAX_UPLOAD_MB) is checked before a file is read.
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("QM_UPLOAD_MAX_MEMORY_KB", 2560, min_value=64) * 1024

# The OpenAPI schema declares every operation's error responses (one Error component in the
# error contract) and the list sizes the serializers enforce.
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "qm_platform.schema.ApiAutoSchema"
# --- end hardening ---


# --- market data (marketdata/) ------------------------------------------------------------
# Storage backend (QM_STORAGE_BACKEND above: local Parquet under QM_DATA_DIR, or S3), the
# DataManager's caches and the way it treats providers. See README "Market data".
def _env_float(name: str, default: float, *, min_value: float = 0.0) -> float:
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value < min_value:
        raise ImproperlyConfigured(f"{name} must be at least {min_value}, got {value}")
    return value


QM_DATA_L1_MAX_MB = env_int("QM_DATA_L1_MAX_MB", 512, min_value=0)  # in-process LRU, per process
QM_DATA_L1_REVALIDATE_SECONDS = _env_float("QM_DATA_L1_REVALIDATE_SECONDS", 1.0)
QM_DATA_TTL_HOURS = _env_float("QM_DATA_TTL_HOURS", 24.0)  # freshness of live (Yahoo) series
QM_MAX_CACHE_SIZE_GB = _env_float("QM_MAX_CACHE_SIZE_GB", 10.0)  # cache_cleanup's size cap
QM_DATA_BREAKER_FAILURES = env_int("QM_DATA_BREAKER_FAILURES", 3, min_value=1)
QM_DATA_BREAKER_COOLDOWN_SECONDS = env_int("QM_DATA_BREAKER_COOLDOWN_SECONDS", 300, min_value=1)
QM_DATA_RETRIES = env_int("QM_DATA_RETRIES", 2, min_value=0, max_value=10)  # transient errors only
QM_DATA_RETRY_BACKOFF_MS = env_int("QM_DATA_RETRY_BACKOFF_MS", 500, min_value=0)
QM_YAHOO_MIN_INTERVAL_MS = env_int("QM_YAHOO_MIN_INTERVAL_MS", 500, min_value=0)  # throttle per process
QM_YAHOO_TIMEOUT_SECONDS = env_int("QM_YAHOO_TIMEOUT_SECONDS", 20, min_value=1)
QM_CSV_MAX_UPLOAD_MB = env_int("QM_CSV_MAX_UPLOAD_MB", 50, min_value=1)
QM_S3_ENDPOINT_URL = env_str("QM_S3_ENDPOINT_URL", "")  # empty: AWS
QM_S3_BUCKET = env_str("QM_S3_BUCKET", "")
QM_S3_PREFIX = env_str("QM_S3_PREFIX", "market_cache")
QM_S3_REGION = env_str("QM_S3_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))
QM_S3_ACCESS_KEY_ID = env_str("QM_S3_ACCESS_KEY_ID", env_str("AWS_ACCESS_KEY_ID", ""))
QM_S3_SECRET_ACCESS_KEY = env_str("QM_S3_SECRET_ACCESS_KEY", env_str("AWS_SECRET_ACCESS_KEY", ""))
QM_S3_SSE = env_choice("QM_S3_SSE", "", ("", "AES256", "aws:kms"))  # encryption at rest
QM_S3_SSE_KMS_KEY_ID = env_str("QM_S3_SSE_KMS_KEY_ID", "")
QM_S3_CREATE_BUCKET = env_bool("QM_S3_CREATE_BUCKET", False)
if QM_STORAGE_BACKEND == "s3" and not QM_S3_BUCKET:
    raise ImproperlyConfigured("QM_STORAGE_BACKEND=s3 needs QM_S3_BUCKET")
if QM_S3_ENDPOINT_URL and not QM_S3_ENDPOINT_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"QM_S3_ENDPOINT_URL must start with http:// or https://, got {QM_S3_ENDPOINT_URL!r}")
if bool(QM_S3_ACCESS_KEY_ID) != bool(QM_S3_SECRET_ACCESS_KEY):
    raise ImproperlyConfigured("set both QM_S3_ACCESS_KEY_ID and QM_S3_SECRET_ACCESS_KEY (or neither)")


# --- artifacts (qm_platform/artifacts.py): report PDFs of runs and batches -------------------
# One storage for every file a run or batch produces. ``local``: files under QM_ARTIFACT_DIR (one
# machine, or a disk every web and worker host mounts); ``s3``: django-storages' S3 storage on the
# market data's bucket and QM_S3_* settings, under QM_ARTIFACT_PREFIX, so a worker on one host
# writes a PDF that the web server on another serves. Defaults to the market-data backend.
QM_ARTIFACT_STORAGE = env_choice("QM_ARTIFACT_STORAGE", QM_STORAGE_BACKEND, ("local", "s3"))
QM_ARTIFACT_PREFIX = env_str("QM_ARTIFACT_PREFIX", "artifacts").strip("/")
QM_ARTIFACTS_PRESIGN = env_bool("QM_ARTIFACTS_PRESIGN", False)  # 302 to a presigned URL (S3 only)
QM_ARTIFACTS_PRESIGN_SECONDS = env_int("QM_ARTIFACTS_PRESIGN_SECONDS", 300, min_value=1, max_value=7 * 86400)


def s3_artifact_options(
    *, bucket, prefix, endpoint_url, region, access_key, secret_key, presign_seconds, sse="", sse_kms_key_id=""
) -> dict:
    """OPTIONS of django-storages' S3Storage for the artifacts (the tests build theirs here too)."""
    object_parameters = {"ServerSideEncryption": sse} if sse else {}
    if sse == "aws:kms" and sse_kms_key_id:
        object_parameters["SSEKMSKeyId"] = sse_kms_key_id
    return {
        "bucket_name": bucket,
        "location": prefix,
        "endpoint_url": endpoint_url or None,
        "region_name": region or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "file_overwrite": True,  # the key is the artifact's identity; a PUT replaces it at once
        "querystring_auth": True,
        "querystring_expire": presign_seconds,
        "signature_version": "s3v4",
        "addressing_style": "path" if endpoint_url else None,
        "object_parameters": object_parameters,
    }


if QM_ARTIFACT_STORAGE == "s3":
    if not QM_S3_BUCKET:
        raise ImproperlyConfigured("QM_ARTIFACT_STORAGE=s3 needs QM_S3_BUCKET")
    _s3_options = s3_artifact_options(
        bucket=QM_S3_BUCKET,
        prefix=QM_ARTIFACT_PREFIX,
        endpoint_url=QM_S3_ENDPOINT_URL,
        region=QM_S3_REGION,
        access_key=QM_S3_ACCESS_KEY_ID,
        secret_key=QM_S3_SECRET_ACCESS_KEY,
        presign_seconds=QM_ARTIFACTS_PRESIGN_SECONDS,
        sse=QM_S3_SSE,
        sse_kms_key_id=QM_S3_SSE_KMS_KEY_ID,
    )
    _artifacts = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}
elif QM_ARTIFACTS_PRESIGN:
    raise ImproperlyConfigured("QM_ARTIFACTS_PRESIGN=1 needs QM_ARTIFACT_STORAGE=s3")
else:
    _artifacts = {"BACKEND": "qm_platform.artifacts.AtomicFileSystemStorage"}  # under MEDIA_ROOT (QM_ARTIFACT_DIR)
STORAGES = {
    "default": _artifacts,
    "artifacts": _artifacts,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


# --- batches (batches/) -------------------------------------------------------------------
# No task's result is ever read: job state lives in the database and batches go out through the
# per-user dispatcher (no chord), so there is no result backend by default. With one (the broker's
# Redis, as this setting once defaulted to), every send_task subscribed to the task's result
# channel first, and with Redis down each send then spent Celery's 20 reconnection retries (about
# 19 s) there before failing: a POST answered after 19 s instead of at once. QM_RESULT_BACKEND
# sets one for an operator's own ad-hoc tasks; the platform's sends still ask for no result.
import json as _json  # noqa: E402

CELERY_RESULT_BACKEND = env_str("QM_RESULT_BACKEND", "") or None
CELERY_RESULT_EXPIRES = env_int("QM_RESULT_EXPIRES_SECONDS", 86400, min_value=60)
# Most runs one batch may create (combinations × windows, plus out-of-sample runs); a user's
# BatchLimit row (admin: Batch limits) overrides it either way.
QM_BATCH_MAX_RUNS = env_int("QM_BATCH_MAX_RUNS", 10_000, min_value=1)
# A batch planning more runs than this is answered 202 at once and its runs are saved by a task
# (batches.tasks.create_batch_runs), QM_BATCH_CREATE_CHUNK runs per bulk insert.
QM_BATCH_INLINE_RUNS = env_int("QM_BATCH_INLINE_RUNS", 50, min_value=0)
QM_BATCH_CREATE_CHUNK = env_int("QM_BATCH_CREATE_CHUNK", 500, min_value=1, max_value=10_000)
# The dispatcher sends consecutive waiting runs of one batch as one task (backtests.chunks: data
# loaded once, one claim, one commit): at most this many runs (1: a task per run) and this many
# bars together, so a chunk of long runs is no longer than one of them.
QM_BATCH_CHUNK_RUNS = env_int("QM_BATCH_CHUNK_RUNS", 10, min_value=1, max_value=200)
QM_BATCH_CHUNK_BARS = env_int("QM_BATCH_CHUNK_BARS", 500_000, min_value=1)
QM_BATCH_SWEEP_SECONDS = env_int("QM_BATCH_SWEEP_SECONDS", 30, min_value=1)
QM_BATCH_RECHECK_SECONDS = env_int("QM_BATCH_RECHECK_SECONDS", 2, min_value=1)
QM_BATCH_RENDER_PDF = env_bool("QM_BATCH_RENDER_PDF", True)  # one PDF per batch, when it is final
# A scheduled batch raises a drift alert when a metric of its best run drops by more than
# this against the previous batch of the same schedule (units of the metric: percentage
# points for win_rate, pvs and net_return_pct).
QM_BATCH_DRIFT_THRESHOLDS = {"win_rate": 10.0, "pvs": 15.0, "sharpe": 0.5, "profit_factor": 0.3, "net_return_pct": 5.0}
try:
    QM_BATCH_DRIFT_THRESHOLDS.update(_json.loads(env_str("QM_BATCH_DRIFT_THRESHOLDS", "{}")))
except ValueError as _exc:
    raise ImproperlyConfigured(f"QM_BATCH_DRIFT_THRESHOLDS must be a JSON object: {_exc}") from None
if not all(isinstance(v, (int, float)) and v >= 0 for v in QM_BATCH_DRIFT_THRESHOLDS.values()):
    raise ImproperlyConfigured("QM_BATCH_DRIFT_THRESHOLDS values must be non-negative numbers")
CELERY_BEAT_SCHEDULE = routing.beat_schedule(
    heartbeat_timeout=QM_HEARTBEAT_TIMEOUT,
    batch_sweep_seconds=QM_BATCH_SWEEP_SECONDS,
    redispatch_seconds=QM_REDISPATCH_SECONDS,
)
# --- end batches ---
