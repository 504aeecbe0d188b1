"""The fuzz run's checks, shared by the pytest run (test_fuzz.py) and the CLI run (scripts/fuzz.sh,
which loads this module as its schemathesis hooks: ``SCHEMATHESIS_HOOKS=qm_platform.tests.fuzz_checks``)."""

from __future__ import annotations

import re

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


@schemathesis.check
def error_contract(ctx, response, case):
    """Every 4xx is the one error body: success false, a message, an UPPER_SNAKE code, details."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"success", "error", "code", "details"}, body
    assert body["success"] is False, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["code"], str) and UPPER_SNAKE.match(body["code"]), body
    assert isinstance(body["details"], dict), body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_contract,
]
# the same set by name, for `schemathesis run --checks`
CHECK_NAMES = ",".join(check.__name__ for check in CHECKS)
