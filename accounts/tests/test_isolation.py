"""The isolation walk: every operation of the OpenAPI schema, tried on Alice's objects by Bob
(404: he cannot even learn that they exist) and by an anonymous client (401), and every list as
Bob holds nothing of Alice's. The operations come from the schema, so a new endpoint is walked
without anyone remembering to add it here."""

from __future__ import annotations

import json
import re

import pytest

from accounts.services import api_key_create
from backtests.tests.factories import v4_body
from batches.services import lifecycle, schedules

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete")
SHORT = {"marketContext__startDate": "2024-01-01T00:00:00Z", "marketContext__endDate": "2024-02-01T00:00:00Z"}
# Shared catalogues (the same for everyone) and the credential endpoints themselves.
PUBLIC_PREFIXES = ("/api/v1/modules", "/api/v1/templates", "/api/v1/auth/")


@pytest.fixture
def operations(alice_api):
    schema = alice_api.get("/api/v1/schema/?format=json").json()
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


@pytest.fixture
def alices_things(alice, make_run, make_dataset):
    run = make_run(alice, trades=3)
    batch = lifecycle.batch_create(
        user=alice, definition={"strategy": v4_body(**SHORT), "grid": {"exit.takeProfit": [2]}}
    )
    schedule = schedules.schedule_create(
        user=alice, name="alice nightly", definition={"strategy": v4_body(**SHORT)}, interval_seconds=86400
    )
    dataset = make_dataset(alice, symbol="GBPUSD")
    key, _secret = api_key_create(user=alice, name="alice ci")
    return {
        "/api/v1/backtests/": str(run.id),
        "/api/v1/batches/": str(batch.id),
        "/api/v1/schedules/": str(schedule.id),
        "/api/v1/datasets/": str(dataset.id),
        "/api/v1/me/api-keys/": str(key.id),
    }


def owned_path(path: str, things: dict[str, str]) -> str | None:
    for prefix, object_id in things.items():
        if path.startswith(prefix + "{id}"):
            return other_ids(path.replace("{id}", object_id))
    return None


def other_ids(path: str) -> str:
    """A path's remaining parameters (a version ``{number}``…) as 1."""
    return re.sub(r"\{\w+\}", "1", path)


def call(client, method: str, path: str):
    return getattr(client, method)(path, {}, format="json") if method != "get" else client.get(path)


def test_bob_gets_404_on_every_operation_on_alices_objects(operations, alices_things, bob_api):
    walked = 0
    for path, method, _ in operations:
        url = owned_path(path, alices_things)
        if url is None:
            continue
        response = call(bob_api, method, url)
        assert response.status_code == 404, (method, url, response.status_code)
        body = response.json()
        assert body["success"] is False and body["code"] == "NOT_FOUND", (method, url, body)
        walked += 1
    assert walked >= 15, "the walk found the owned endpoints in the schema"


def test_an_anonymous_client_gets_401_everywhere_but_the_shared_catalogues(operations, alices_things, anon_api):
    for path, method, _ in operations:
        if path.startswith(PUBLIC_PREFIXES) or path.startswith("/api/v1/schema"):
            continue
        url = owned_path(path, alices_things) or other_ids(path)
        response = call(anon_api, method, url)
        assert response.status_code == 401, (method, url, response.status_code)
        assert response.json()["code"] in ("NOT_AUTHENTICATED", "AUTHENTICATION_FAILED")


def test_bobs_lists_and_export_hold_nothing_of_alices(operations, alices_things, bob_api, alice):
    lists = [path for path, method, _ in operations if method == "get" and "{id}" not in path]
    assert "/api/v1/backtests/" in lists and "/api/v1/me/export/" in lists
    for path in lists:
        if path.startswith(PUBLIC_PREFIXES) or path.startswith("/api/v1/schema"):
            continue
        response = bob_api.get(path)
        assert response.status_code == 200, (path, response.status_code)
        shown = (
            b"".join(response.streaming_content).decode("latin-1")
            if response.streaming
            else json.dumps(response.json())
        )
        for object_id in alices_things.values():
            assert object_id not in shown or len(object_id) < 4, (path, object_id)
        assert "alice" not in shown, path
