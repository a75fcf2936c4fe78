"""The OpenAPI document: valid, complete, and generated from the same field definitions as validation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import TZ, good_evidence
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from complaints import vocab
from complaints.evidence import STEP_FIELDS, Context, EvidenceError, validate_step
from complaints.workflow import STATES, STEPS

URI = "urn:complaints:openapi"


@pytest.fixture
def doc(client) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")  # no token needed
    assert r.status_code == 200 and r.mimetype == "application/json"
    return r.get_json()


def schema_validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    registry = Registry().with_resource(URI, Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{URI}#/components/schemas/{name}"}, registry=registry)


def accepted_by_api(step: str, body: dict[str, Any], ctx: Context) -> bool:
    try:
        validate_step(step, body, ctx)
    except EvidenceError:
        return False
    return True


def test_the_document_is_valid_openapi_3_1(doc):
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}


def test_every_api_route_is_documented_and_nothing_else(app, doc):
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if not (rule.endpoint.startswith("api.") or rule.endpoint.startswith("health.")):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if "{step}" in path:
                routes |= {(method.lower(), path.replace("{step}", step)) for step in STEPS}
            else:
                routes.add((method.lower(), path))
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == routes


def test_every_operation_documents_its_errors_in_the_error_schema(doc):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if op.get("security") != []:
                assert "401" in codes, (method, path)
            if "requestBody" in op:
                assert {"400", "415", "422"} <= codes, (method, path)
            for code, response in op["responses"].items():
                if int(code) >= 400 and path.startswith("/api/"):
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }


def test_enums_come_from_the_vocabularies(doc):
    schemas = doc["components"]["schemas"]
    intake = schemas["CaseCreate"]["properties"]
    assert intake["channel"]["enum"] == list(vocab.CHANNELS)
    assert intake["category"]["enum"] == list(vocab.CATEGORIES)
    assert intake["severity"]["enum"] == list(vocab.SEVERITIES)
    assert set(intake["customer"]["properties"]) == {"name", "phone", "email"}
    assert schemas["ApologiseStepRequest"]["properties"]["method"]["enum"] == list(vocab.STAFF_METHODS)
    assert schemas["ListenStepRequest"]["properties"]["temperament"]["enum"] == list(vocab.TEMPERAMENTS)
    assert schemas["ConfirmStepRequest"]["properties"]["via"]["enum"] == list(vocab.METHODS)
    assert schemas["AnalyseStepRequest"]["properties"]["root_cause_category"]["enum"] == list(
        vocab.ROOT_CAUSE_CATEGORIES
    )
    assert schemas["AgreeStepRequest"]["properties"]["remedy"]["enum"] == list(vocab.REMEDIES)
    assert schemas["PreventStepRequest"]["properties"]["department"]["enum"] == list(vocab.DEPARTMENTS)
    assert schemas["VerifyStepRequest"]["properties"]["satisfaction"]["enum"][:-1] == list(vocab.SATISFACTION)
    assert schemas["Case"]["properties"]["state"]["enum"] == list(STATES)


@pytest.mark.parametrize("step", STEPS)
def test_each_step_body_has_exactly_the_evidence_fields(doc, step):
    schema = doc["components"]["schemas"][f"{step.capitalize()}StepRequest"]
    assert set(schema["properties"]) == {f.name for f in STEP_FIELDS[step]} | {"version"}
    assert schema["additionalProperties"] is False
    path = doc["paths"][f"/api/v1/cases/{{case_id}}/steps/{step}"]["post"]
    assert path["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{step.capitalize()}StepRequest"
    }
    assert ("202" in path["responses"]) == (step in ("confirm", "agree", "verify"))


@pytest.mark.parametrize("step", STEPS)
def test_the_schema_and_validation_agree_on_each_step(doc, clock, step):
    """Good evidence passes both; leaving out a required field or adding owner_id fails both."""
    ctx = Context(now=clock.now, tz=TZ)
    v = schema_validator(doc, f"{step.capitalize()}StepRequest")
    good = good_evidence(step, clock.now)
    assert accepted_by_api(step, good, ctx)
    assert v.is_valid({**good, "version": 3})
    for f in STEP_FIELDS[step]:
        if f.name in good and f.required:
            without = {k: val for k, val in good.items() if k != f.name}
            assert not accepted_by_api(step, without, ctx), f.name
            assert not v.is_valid(without), f.name
    assert not accepted_by_api(step, {**good, "owner_id": 7}, ctx)
    assert not v.is_valid({**good, "owner_id": 7})


@pytest.mark.parametrize(
    ("step", "body", "ok"),
    [
        ("confirm", {"restatement": "x", "via": "customer_link"}, True),
        ("confirm", {"restatement": "x", "customer_response": "confirmed", "via": "customer_link"}, False),
        ("confirm", {"restatement": "x", "via": "phone"}, False),
        (
            "confirm",
            {"restatement": "x", "customer_response": "corrected", "correction": "y", "via": "phone"},
            True,
        ),
        ("confirm", {"restatement": "x", "customer_response": "corrected", "via": "phone"}, False),
        (
            "agree",
            {"remedy": "refund", "remedy_detail": "x", "due_date": "2999-01-01", "via": "customer_link"},
            True,
        ),
        ("verify", {"satisfaction": "no_response", "comment": "No answer."}, True),
        ("verify", {"satisfaction": "no_response", "score": 3}, False),
        ("verify", {"satisfaction": "satisfied", "score": 5}, False),
        ("verify", {"via": "customer_link"}, True),
        ("prevent", {"department": "none", "none_reason": "One-off."}, True),
        ("prevent", {"department": "none"}, False),
        ("apologise", {"method": "phone", "apology": "Sorry.", "apologised_at": "2020-01-01T10:00"}, True),
        ("apologise", {"method": "customer_link", "apology": "Sorry."}, False),
    ],
)
def test_the_schema_and_validation_agree_on_customer_answers_and_conditions(doc, clock, step, body, ok):
    ctx = Context(now=clock.now, tz=TZ)
    assert accepted_by_api(step, body, ctx) is ok
    assert schema_validator(doc, f"{step.capitalize()}StepRequest").is_valid(body) is ok


def test_intake_schema_matches_what_the_api_takes(doc):
    v = schema_validator(doc, "CaseCreate")
    good = {
        "customer": {"name": "Chen", "phone": "13800138000", "email": None},
        "channel": "phone",
        "summary": "Broken",
        "description": "Broken on arrival.",
        "product": None,
        "purchase_date": "2025-01-31",
        "category": "product",
        "severity": "low",
    }
    assert v.is_valid(good)
    assert not v.is_valid({**good, "owner_id": 1})
    assert not v.is_valid({**good, "customer_name": "Chen"})
    assert not v.is_valid({**good, "channel": "fax"})
    assert not v.is_valid({k: val for k, val in good.items() if k != "customer"})


def test_the_document_is_english_whatever_the_caller_speaks(client):
    en = client.get("/api/v1/openapi.json").get_json()
    zh = client.get("/api/v1/openapi.json", headers={"Accept-Language": "zh-CN"}).get_json()
    assert en == zh
