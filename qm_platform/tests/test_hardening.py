"""Deployment hardening: the secret key, `check --deploy`, the CSP, /metrics and error pages."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory, override_settings
from django.views.debug import technical_500_response

ROOT = Path(__file__).resolve().parents[2]
CHECK_DEPLOY = (
    "import django; django.setup(); from django.core.management import call_command; "
    "call_command('check', deploy=True, fail_level='WARNING')"
)


def production_env(tmp_path, **extra) -> dict:
    """The environment of a production process: qm_platform.settings with nothing of the test
    settings' (nor this shell's) Django or QuantMetrics variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "QM_", "DATABASE_URL", "CELERY_", "PROMETHEUS_", "AWS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="qm_platform.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="quantmetrics.example.com",
        QM_VAR_DIR=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# ---- secret key and check --deploy --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (None, "the public development key"),
        ("dev-only-insecure-key-change-me", "the public development key"),
        ("x" * 31, "31 characters"),
    ],
)
def test_start_up_refuses_the_development_key_or_a_short_key_when_debug_is_off(tmp_path, key, why):
    result = run_python("import django; django.setup()", production_env(tmp_path, DJANGO_SECRET_KEY=key))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be a random value of at least 32 characters" in result.stderr
    assert why in result.stderr


def test_debug_is_off_unless_asked_and_then_the_development_key_is_allowed(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    assert run_python(code, production_env(tmp_path)).stdout.strip() == "False"
    debug = run_python(code, production_env(tmp_path, DJANGO_DEBUG="1", DJANGO_SECRET_KEY=None))
    assert debug.returncode == 0, debug.stderr
    assert debug.stdout.strip() == "True"


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = run_python(CHECK_DEPLOY, production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_https_is_switched_off(tmp_path):
    env = production_env(tmp_path, QM_SSL_REDIRECT="0", QM_SECURE_COOKIES="0", QM_HSTS_SECONDS="0")
    result = run_python(CHECK_DEPLOY, env)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_a_proxy_ssl_header_is_read_as_header_and_value(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    env = production_env(tmp_path, QM_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto=https")
    assert run_python(code, env).stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"
    bad = run_python(code, production_env(tmp_path, QM_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"))
    assert "QM_SECURE_PROXY_SSL_HEADER must be HEADER=VALUE" in bad.stderr


# ---- Content-Security-Policy --------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_have_a_csp_whose_nonce_is_on_every_inline_script(client, alice):
    client.force_login(alice)
    response = client.get("/run-backtest-v4")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"]).group(1)
    assert directives["script-src"] == f"'self' 'nonce-{nonce}'" and "unsafe" not in directives["script-src"]
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    scripts = re.findall(r"<script([^>]*)>", response.content.decode())
    assert scripts and all(f'nonce="{nonce}"' in attrs or "application/json" in attrs for attrs in scripts)
    again = client.get("/run-backtest-v4")["Content-Security-Policy"]
    assert f"'nonce-{nonce}'" not in again, "a nonce is used once"


@pytest.mark.django_db
def test_swagger_ui_loads_its_assets_and_script_from_this_origin(anon_api):
    html = anon_api.get("/api/v1/docs/").content.decode()
    sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "<script>" not in html, "no inline script"


# ---- /metrics -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_hidden_when_no_token_or_allow_list_is_set(client):
    response = client.get("/metrics")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


@pytest.mark.django_db
@override_settings(QM_METRICS_TOKEN="scrape-me-0123456789", QM_METRICS_ALLOW=["10.1.2.0/24"])
def test_metrics_need_the_bearer_token_or_an_allowed_address(client):
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": "Token scrape-me-0123456789"}):
        response = client.get("/metrics", **headers)
        body = response.json()
        assert response.status_code == 403 and body["success"] is False and body["code"] == "PERMISSION_DENIED"
    forwarded = client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert forwarded.status_code == 403, "a client cannot claim an address"
    by_token = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789")
    by_address = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    for response in (by_token, by_address):
        assert response.status_code == 200 and "qm_runs_cached" in response.content.decode()


# ---- error pages ----------------------------------------------------------------------------


SECRETS = {
    "DATABASE_URL": "postgres://qm:db-password-123@db.internal:5432/qm",
    "CELERY_BROKER_URL": "redis://:broker-password-456@redis.internal:6379/0",
    "CELERY_RESULT_BACKEND": "redis://:broker-password-456@redis.internal:6379/0",
    "QM_CACHE_URL": "redis://:cache-password-789@cache.internal:6379/1",
    "QM_S3_ENDPOINT_URL": "https://s3.internal:8333",
    "QM_S3_BUCKET": "qm-private-bucket",
    "QM_S3_ACCESS_KEY_ID": "AKIA-access-key-id",
    "QM_S3_SECRET_ACCESS_KEY": "s3-secret-access-key",
    "QM_METRICS_TOKEN": "metrics-token-abc",
    "SOME_INTEGRATION": "amqp://user:amqp-password-000@mq.internal//",
}
LEAKS = [
    "db-password-123",
    "db.internal",
    "broker-password-456",
    "redis.internal",
    "cache-password-789",
    "s3.internal",
    "qm-private-bucket",
    "AKIA-access-key-id",
    "s3-secret-access-key",
    "metrics-token-abc",
    "amqp-password-000",
]


def test_the_debug_error_page_shows_no_urls_or_credentials_from_settings_or_the_environment():
    request = RequestFactory().get("/boom", **{"DATABASE_URL": SECRETS["DATABASE_URL"]})
    with override_settings(DEBUG=True, **SECRETS):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            html = technical_500_response(request, *sys.exc_info()).content.decode()
    assert "RuntimeError" in html and "DATABASE_URL" in html and "CELERY_BROKER_URL" in html
    for leak in LEAKS:
        assert leak not in html, f"{leak!r} is on the error page"
