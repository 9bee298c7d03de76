"""The OpenAPI schema says what the API answers: nullable fields are declared
nullable, and every operation documents its error answers (Schemathesis in
CI, bin/api-fuzz, checks the live answers against it)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_operation_documents_its_error_answers(schema):
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = {"400", "401", "403", "404", "503"}
            if method in ("post", "put", "patch", "delete"):
                expected.add("409")
            absent = expected - set(operation["responses"])
            if absent:
                missing.append((method, path, sorted(absent)))
    assert missing == []
    error = schema["paths"]["/api/v1/milestones/"]["get"]["responses"]["400"]
    assert error["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_token_endpoint_documents_429(schema):
    assert "429" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Escalation", "acknowledged_by_name"),
        ("ApprovalRequest", "requested_by_name"),
        ("ProgressUpdate", "evidence"),
        ("ProgressUpdate", "author_name"),
        ("Milestone", "owner_name"),
    ],
)
def test_fields_that_can_be_null_are_nullable(schema, component, field):
    assert schema["components"]["schemas"][component]["properties"][field]["nullable"]


def test_fields_that_are_never_null_are_not_nullable(schema):
    properties = schema["components"]["schemas"]["Milestone"]["properties"]
    assert "nullable" not in properties["name"]
    assert "nullable" not in properties["category_name"]
