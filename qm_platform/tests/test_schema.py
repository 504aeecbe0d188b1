"""The OpenAPI schema says what the API does: its errors, its nulls and its list sizes."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from backtests.tests.factories import v4_body

pytestmark = pytest.mark.django_db
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema(anon_api):
    response = anon_api.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").stat().st_size > 10_000


def test_every_operation_declares_its_errors_in_the_one_contract(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"success", "error", "code", "details"}
    assert error["properties"]["details"]["type"] == "object"
    for name, operation in operations(schema):
        responses = operation["responses"]
        parameters = operation.get("parameters", [])
        expected = {"401", "429"}
        if "requestBody" in operation:
            expected |= {"400", "413"}
        if any(p["in"] == "path" for p in parameters):
            expected.add("404")
        assert expected <= set(responses), f"{name} declares {sorted(responses)}"
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (name, status)
                assert response["description"], (name, status)
        assert "Retry-After" in responses["429"]["headers"]


def test_declared_conflicts_keep_their_description_and_gain_the_body(schema):
    cancel = schema["paths"]["/api/v1/backtests/{id}/cancel/"]["post"]["responses"]["409"]
    assert cancel["description"] == "INVALID_STATE" and cancel["content"]["application/json"]["schema"]["$ref"]
    assert "409" in schema["paths"]["/api/v1/backtests/{id}/report/"]["post"]["responses"]
    assert "404" in schema["paths"]["/api/v1/modules/"]["get"]["responses"]


def test_the_schema_states_nulls_and_the_list_sizes_the_serializers_enforce(schema):
    components = schema["components"]["schemas"]
    duration = components["BacktestRun"]["properties"]["duration_seconds"]
    assert duration["type"] == "number" and duration["nullable"] is True
    request = components["BacktestRequestRequest"]["properties"]
    assert request["decisionBlocks"]["minItems"] == 1 and request["decisionBlocks"]["maxItems"] == 20
    for optional in ("shortDecisionBlocks", "exitBlocks", "shortExitBlocks"):
        assert "minItems" not in request[optional] and request[optional]["maxItems"] == 20
    block = components["DecisionBlockRequest"]["properties"]
    assert block["subConfirmations"]["maxItems"] == 50 and block["label"]["maxLength"] == 200
    assert request["strategyName"]["maxLength"] == 200


def test_what_the_schema_allows_and_refuses_matches_the_api(alice_api, schema):
    empty = alice_api.post("/api/v1/backtests", v4_body(decisionBlocks=[]), format="json")
    assert empty.status_code == 400 and set(empty.json()) == {"success", "error", "code", "details"}
    queued = alice_api.post("/api/v1/backtests", v4_body(), format="json")
    assert queued.status_code == 202, queued.content
    run = alice_api.get(f"/api/v1/backtests/{queued.json()['id']}").json()
    assert run["duration_seconds"] is None, "null, as the schema says it may be"
