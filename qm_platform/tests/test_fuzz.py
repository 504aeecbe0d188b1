"""The fuzz run: schemathesis over the project's own OpenAPI schema, authenticated as a user.

Every operation of the schema, in the examples, coverage and fuzzing phases, then the stateful
phase (sequences of calls that feed one answer's ids into the next request): no answer is a 5xx,
each status is one the schema declares for the operation and its body matches the declared
schema, and every 4xx is the one error contract ``{"success": false, "error", "code", "details"}``.

Bounded for CI (``QM_FUZZ_EXAMPLES`` examples per operation, 10 by default; deterministic);
``scripts/fuzz.sh`` is the full run against a live server.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from qm_platform.tests.fuzz_checks import CHECKS

MAX_EXAMPLES = int(os.environ.get("QM_FUZZ_EXAMPLES", "10"))
STATEFUL_EXAMPLES = max(MAX_EXAMPLES // 2, 3)
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def fuzz_config(token: str, **phases: bool) -> schemathesis.Config:
    enabled = {"examples": True, "coverage": True, "fuzzing": True, "stateful": False, **phases}
    return schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Token {token}"},
            "seed": 17,
            "generation": {"max-examples": MAX_EXAMPLES},
            "phases": {name: {"enabled": on} for name, on in enabled.items()},
        }
    )


@pytest.fixture
def fuzz_user(alice, settings):
    """Alice on the Free plan, with PDFs off: nothing is enqueued (the test's transaction never
    commits) and her plan's throttles stay on, so 429 QUOTA_EXCEEDED / RATE_LIMITED is a valid answer."""
    from django.core import signals
    from django.db import close_old_connections
    from rest_framework.authtoken.models import Token

    settings.QM_RENDER_PDF = False
    # as Django's test client does: the requests share the test's connection and transaction
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield Token.objects.get_or_create(user=alice)[0].key
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def load_schema(token: str, **phases: bool):
    from django.core.handlers.wsgi import WSGIHandler

    return schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", WSGIHandler(), config=fuzz_config(token, **phases)
    )


@pytest.fixture
def api_schema(db, fuzz_user):
    return load_schema(fuzz_user)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@HYPOTHESIS
def test_every_operation_answers_in_its_contract(case):
    case.call_and_validate(checks=CHECKS)


def test_sequences_of_calls_answer_in_their_contract(db, fuzz_user):
    machine = load_schema(fuzz_user, stateful=True).as_state_machine()

    class Machine(machine):  # type: ignore[misc,valid-type]
        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            HYPOTHESIS,
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
        )
    )
