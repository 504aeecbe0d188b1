"""The API's docs work offline: Swagger UI and ReDoc load everything from this origin."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_redoc_loads_its_script_from_this_origin_and_may_start_its_worker(anon_api):
    response = anon_api.get("/api/v1/redoc/")
    html = response.content.decode()
    assert response.status_code == 200 and '<redoc spec-url="/api/v1/schema/"' in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "googleapis" not in html and "<script>" not in html
    csp = response["Content-Security-Policy"]
    assert "worker-src 'self' blob:" in csp
    script = anon_api.get(sources[0])
    assert script.status_code == 200
    assert "worker-src" not in anon_api.get("/run-backtest-v4")["Content-Security-Policy"]
