"""The OpenAPI 3.1 document, generated from the same definitions the API validates with.

Field schemas come from evidence.STEP_FIELDS / INTAKE_FIELDS (so enums come from the
vocabularies); each area of the API describes its paths in a function decorated with
``@section``. A later module adds its endpoints the same way::

    from complaints.api.openapi import Document, section

    @section
    def _updates(doc: Document) -> None:
        doc.operation("post", "/api/v1/cases/{case_id}/updates", ..., responses={201: "Update"})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, jsonify
from flask_babel import force_locale

from complaints import vocab
from complaints.api import bp
from complaints.api.auth import public
from complaints.api.serialize import CASE_FIELDS, CUSTOMER_FIELDS, SUMMARY_FIELDS
from complaints.evidence import ANSWER_FIELD, INTAKE_FIELDS, STEP_FIELDS, Field
from complaints.workflow import CUSTOMER_STEPS, STATES, STEPS

Schema = dict[str, Any]

# What each error status means in this API, for the documentation.
ERROR_CODES: dict[int, str] = {
    400: "`invalid_json`, `invalid_body` or `bad_request`: the body could not be read.",
    401: "`unauthorized` (no bearer token) or `invalid_token`.",
    403: "`forbidden`: the caller's role or relation to the case does not allow this.",
    404: "`not_found`: no such case (or step, or address).",
    409: (
        "`already_owned`, `wrong_state` or `stale`: the case is not in a state that allows this; "
        "`interim_measures_open`: the case cannot close while an interim measure is open."
    ),
    413: "`request_entity_too_large`.",
    415: "`unsupported_media_type`: the body must be JSON.",
    422: (
        "`invalid`: `fields` names each missing, unknown or invalid field; `forbidden_phrase`: a text "
        "said to the customer contains a forbidden phrase, named in `message` and under the field; "
        "`approval_required`: the remedy is beyond policy and has no quality approval."
    ),
    500: "`internal_error`: nothing was changed.",
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    """The same schema, also allowing null (JSON Schema 2020-12, as OpenAPI 3.1 uses)."""
    out = dict(schema)
    if "$ref" in out:
        return {"anyOf": [out, {"type": "null"}]}
    out["type"] = [*out["type"], "null"] if isinstance(out["type"], list) else [out["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _datetime_input_note() -> str:
    tz = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    return f"ISO 8601 date and time (YYYY-MM-DDTHH:MM); without an offset it is read in {tz}."


def field_schema(f: Field, *, output: bool = False) -> Schema:
    """One evidence or intake field as a JSON Schema: what the API takes, or what it returns."""
    s: Schema
    if f.kind in ("text", "line", "phone"):
        s = {"type": "string", "maxLength": f.max_length}
        if f.required and not output:
            s["minLength"] = 1
    elif f.kind == "email":
        s = {"type": "string", "maxLength": f.max_length}
        if output:
            s["format"] = "email"
    elif f.kind == "choice":
        assert f.choices is not None
        s = {"type": "string", "enum": list(f.choices)}
    elif f.kind == "int":
        s = {"type": "integer"}
        if f.minimum is not None:
            s["minimum"] = f.minimum
        if f.maximum is not None:
            s["maximum"] = f.maximum
    elif f.kind == "decimal":  # evidence.AMOUNT_RE, above zero; returned as text with two decimals
        if output:
            s = {"type": "string", "pattern": r"^[0-9]{1,10}\.[0-9]{2}$"}
        else:
            s = {"type": ["string", "number"], "pattern": r"^\s*(?=.*[1-9])[0-9]{1,10}(\.[0-9]{1,2})?\s*$"}
            s["exclusiveMinimum"] = 0
    elif f.kind == "date":
        s = {"type": "string", "format": "date"}
    elif f.kind == "datetime":
        s = {"type": "string"}
        if output:
            s["format"] = "date-time"
        else:
            s["description"] = _datetime_input_note()
    elif f.kind == "actions":
        s = {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["description", "done_at"],
                "additionalProperties": False,
                "properties": {
                    "description": {
                        "type": "string",
                        "maxLength": 4000,
                        **({} if output else {"minLength": 1}),
                    },
                    "done_at": (
                        {"type": "string", "format": "date-time"}
                        if output
                        else {"type": "string", "description": _datetime_input_note()}
                    ),
                },
            },
        }
    else:  # pragma: no cover - a new kind needs a schema here
        raise AssertionError(f.kind)
    s["title"] = str(f.label)
    if f.help:
        s["description"] = str(f.help)
    if not f.required and not output:
        s = _nullable(s)
    return s


def _object(
    properties: Mapping[str, Schema], required: Iterable[str] = (), *, closed: bool = True, **extra: Any
) -> Schema:
    out: Schema = {"type": "object", "properties": dict(properties)}
    req = list(required)
    if req:
        out["required"] = req
    if closed:
        out["additionalProperties"] = False
    out.update(extra)
    return out


def _schema_name(step: str) -> str:
    return step.capitalize()


def _absent(name: str) -> Schema:
    """Left out or null: how validation reads a blank field."""
    return {"properties": {name: {"type": "null"}}}


def step_request_schema(step: str) -> Schema:
    """The body of POST /cases/{id}/steps/{step}: the step's evidence fields and ``version``."""
    fields = STEP_FIELDS[step]
    props = {f.name: field_schema(f) for f in fields}
    props["version"] = {
        "type": ["integer", "null"],
        "minimum": 1,
        "description": "The case version the caller saw; a different current version gives 409 `stale`.",
    }
    required = [f.name for f in fields if f.required]
    rules: list[Schema] = []
    for f in fields:
        if f.depends is not None:
            other, values = f.depends
            rules.append(
                {
                    "if": {"properties": {other: {"enum": list(values)}}, "required": [other]},
                    "then": {"required": [f.name]},
                }
            )
    if step in CUSTOMER_STEPS:
        answer = ANSWER_FIELD[step]
        by_link = {"properties": {"via": {"const": vocab.CUSTOMER_LINK}}, "required": ["via"]}
        # via customer_link without the answer sends the question to the customer (202);
        # otherwise the answer is the customer's, recorded by staff.
        rules.append({"if": by_link, "then": _absent(answer), "else": {"required": [answer]}})
        if step == "verify":
            # Closing without a response records no channel.
            required.remove("via")
            rules.append(
                {
                    "if": {
                        "properties": {"satisfaction": {"const": "no_response"}},
                        "required": ["satisfaction"],
                    },
                    "then": _absent("score"),
                    "else": {"required": ["via"]},
                }
            )
    schema = _object(props, required, title=f"{_schema_name(step)} step")
    if rules:
        schema["allOf"] = rules
    return schema


def evidence_output_schema(step: str) -> Schema:
    """The evidence of a completed step as the case returns it."""
    props = {f.name: field_schema(f, output=True) for f in STEP_FIELDS[step]}
    if step == "agree":  # what the remedy policy added when the remedy was offered
        props["within_policy"] = {"type": "boolean", "title": "Within the remedy policy"}
        props["beyond_policy"] = {"type": "boolean", "title": "Beyond the remedy policy, approved"}
        props["approval_id"] = {"type": "integer", "title": "The quality approval it was offered under"}
    return _object(props)


def _intake_output(names: Iterable[str]) -> dict[str, Schema]:
    by_name = {f.name: f for f in INTAKE_FIELDS}
    out = {}
    for name in names:
        f = by_name[name]
        s = field_schema(f, output=True)
        out[name] = s if f.required else _nullable(s)
    return out


# --- the document ------------------------------------------------------------------
class Document:
    """Paths and component schemas, filled in by the sections."""

    def __init__(self) -> None:
        self.paths: dict[str, dict[str, Any]] = {}
        self.schemas: dict[str, Schema] = {}
        self.tags: list[dict[str, str]] = []

    def schema(self, name: str, schema: Schema) -> Schema:
        self.schemas[name] = schema
        return ref(name)

    def tag(self, name: str, description: str) -> None:
        self.tags.append({"name": name, "description": description})

    def operation(
        self,
        method: str,
        path: str,
        *,
        operation_id: str,
        summary: str,
        tag: str,
        responses: Mapping[int, str | Schema | None],
        errors: Iterable[int] = (),
        request: str | Schema | None = None,
        request_required: bool = True,
        parameters: Iterable[Schema] = (),
        public: bool = False,
        description: str | None = None,
    ) -> None:
        """One operation: success responses by schema name, error statuses by number."""
        op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": [tag]}
        if description:
            op["description"] = description
        params = list(parameters)
        params += [_path_param(name) for name in _path_names(path) if all(p["name"] != name for p in params)]
        if params:
            op["parameters"] = params
        codes = set(errors) | {500}
        if request is not None:
            op["requestBody"] = {
                "required": request_required,
                "content": {
                    "application/json": {"schema": ref(request) if isinstance(request, str) else request}
                },
            }
            codes |= {400, 413, 415, 422}
        if public:
            op["security"] = []
        else:
            codes.add(401)
        out: dict[str, Any] = {}
        for status, body in responses.items():
            out[str(status)] = _response(status, body)
        for status in sorted(codes):
            out[str(status)] = {
                "description": ERROR_CODES.get(status, HTTPStatus(status).phrase),
                "content": {"application/json": {"schema": ref("Error")}},
            }
        op["responses"] = dict(sorted(out.items()))
        self.paths.setdefault(path, {})[method.lower()] = op

    def to_dict(self) -> dict[str, Any]:
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Complaints API",
                "version": "1",
                "description": (
                    "Complaint cases from intake to closure, with one owner from first contact. "
                    "Authenticate with `Authorization: Bearer <token>` (tokens: "
                    "`flask --app wsgi complaints create-token EMAIL`). Errors are "
                    '`{"error": {"code", "message", "fields"}}`; collections are '
                    '`{"items", "next_cursor"}`: pass `next_cursor` back as `cursor` until it is null. '
                    "Timestamps are ISO 8601 in UTC."
                ),
            },
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
            "tags": self.tags,
            "paths": self.paths,
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
                "schemas": self.schemas,
            },
        }


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _path_param(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def _response(status: int, body: str | Schema | None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": HTTPStatus(status).phrase}
    if body is not None:
        out["content"] = {"application/json": {"schema": ref(body) if isinstance(body, str) else body}}
    return out


def query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def page_parameters() -> list[Schema]:
    return [
        query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": int(current_app.config["API_MAX_LIMIT"])},
            f"Items per page (default {current_app.config['PAGE_SIZE']}).",
        ),
        query("cursor", {"type": "string"}, "The `next_cursor` of the previous page."),
    ]


def list_of(doc: Document, name: str, item: str) -> Schema:
    return doc.schema(
        name,
        _object(
            {"items": {"type": "array", "items": ref(item)}, "next_cursor": {"type": ["string", "null"]}},
            ["items", "next_cursor"],
        ),
    )


# --- sections ----------------------------------------------------------------------
SECTIONS: list[Callable[[Document], None]] = []


def section(fn: Callable[[Document], None]) -> Callable[[Document], None]:
    """Register a function that adds paths and schemas to the document."""
    SECTIONS.append(fn)
    return fn


TIMESTAMP: Schema = {"type": "string", "format": "date-time"}


@section
def _common(doc: Document) -> None:
    doc.schema(
        "Error",
        _object(
            {
                "error": _object(
                    {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    ["code", "message", "fields"],
                )
            },
            ["error"],
        ),
    )
    doc.schema("Person", _object({"id": {"type": "integer"}, "name": {"type": "string"}}, ["id", "name"]))


@section
def _health(doc: Document) -> None:
    doc.tag("service", "Health and the API's own description.")
    doc.schema("Health", _object({"status": {"type": "string", "enum": ["ok", "unavailable"]}}, ["status"]))
    doc.operation(
        "get",
        "/healthz",
        operation_id="healthz",
        summary="Whether the service and its database answer (503 when the database does not).",
        tag="service",
        responses={200: "Health", 503: "Health"},
        public=True,
    )
    doc.operation(
        "get",
        "/api/v1/openapi.json",
        operation_id="openapi",
        summary="This document.",
        tag="service",
        responses={200: {"type": "object"}},
        public=True,
    )


@section
def _cases(doc: Document) -> None:
    doc.tag("cases", "Complaint cases: intake, the eight steps, assistants, notes and history.")
    customer_in = {short: field_schema(f) for short, f in CUSTOMER_FIELDS.items()}
    customer_required = [short for short, f in CUSTOMER_FIELDS.items() if f.required]
    by_name = {f.name: f for f in INTAKE_FIELDS}
    intake_props: dict[str, Schema] = {
        "customer": _object(
            customer_in,
            customer_required,
            description="Found again by phone or email when known; give at least one of them.",
        )
    }
    intake_props.update({name: field_schema(by_name[name]) for name in CASE_FIELDS})
    intake_required = ["customer", *(name for name in CASE_FIELDS if by_name[name].required)]
    doc.schema("CaseCreate", _object(intake_props, intake_required, title="New case"))

    doc.schema(
        "Customer",
        _object(
            {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "phone": {"type": ["string", "null"]},
                "email": {"type": ["string", "null"]},
            },
            ["id", "name", "phone", "email"],
        ),
    )
    summary_props: dict[str, Schema] = {
        "id": {"type": "integer"},
        "reference": {"type": "string", "examples": ["C-2026-000123"]},
        "state": {"type": "string", "enum": list(STATES)},
        "owner": _nullable(ref("Person")),
        "opened_by": ref("Person"),
        "customer": ref("Customer"),
        "opened_at": TIMESTAMP,
        "closed_at": _nullable(TIMESTAMP),
        "due_at": {**_nullable(TIMESTAMP), "description": "The current step's deadline."},
        "awaiting_customer": {
            "type": "boolean",
            "description": "The current step's question was sent to the customer.",
        },
        "version": {"type": "integer", "minimum": 1, "description": "Send it back as a step's `version`."},
        "reopen_count": {"type": "integer", "minimum": 0},
        **_intake_output(SUMMARY_FIELDS),
    }
    doc.schema("CaseSummary", _object(summary_props, list(summary_props)))

    for step in STEPS:
        doc.schema(f"{_schema_name(step)}Evidence", evidence_output_schema(step))
    doc.schema(
        "StepRecord",
        _object(
            {
                "step": {"type": "string", "enum": list(STEPS)},
                "outcome": {"type": "string", "enum": list(STATES), "description": "The state it led to."},
                "evidence": {"type": "object"},
                "staff_recorded": {
                    "type": "boolean",
                    "description": "The customer's answer was recorded by staff on the customer's word.",
                },
                "recorded_by": _nullable(ref("Person")),
                "recorded_at": TIMESTAMP,
            },
            ["step", "outcome", "evidence", "staff_recorded", "recorded_by", "recorded_at"],
            allOf=[
                {
                    "if": {"properties": {"step": {"const": step}}},
                    "then": {"properties": {"evidence": ref(f"{_schema_name(step)}Evidence")}},
                }
                for step in STEPS
            ],
        ),
    )
    case_props = {
        **summary_props,
        **_intake_output(CASE_FIELDS),
        "claimed_at": _nullable(TIMESTAMP),
        "withdrawn_reason": {"type": ["string", "null"]},
        "assistants": {"type": "array", "items": ref("Person")},
        "steps": {"type": "array", "items": ref("StepRecord"), "description": "Completed steps, in order."},
    }
    doc.schema("Case", _object(case_props, list(case_props)))
    list_of(doc, "CaseList", "CaseSummary")

    doc.schema(
        "Event",
        _object(
            {
                "seq": {"type": "integer", "minimum": 1},
                "at": TIMESTAMP,
                "actor": _object(
                    {
                        "kind": {"type": "string", "enum": ["staff", "customer", "system"]},
                        "id": {"type": ["integer", "null"]},
                        "name": {"type": ["string", "null"]},
                    },
                    ["kind", "id", "name"],
                ),
                "action": {"type": "string"},
                "data": {"type": "object", "description": "What was given, exactly as hashed."},
                "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "prev_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
            ["seq", "at", "actor", "action", "data", "hash", "prev_hash"],
        ),
    )
    list_of(doc, "EventList", "Event")
    doc.schema(
        "Assistant",
        _object(
            {
                "case_id": {"type": "integer"},
                "user": ref("Person"),
                "invited_by": ref("Person"),
                "created_at": TIMESTAMP,
            },
            ["case_id", "user", "invited_by", "created_at"],
        ),
    )
    doc.schema(
        "Note",
        _object(
            {
                "id": {"type": "integer"},
                "case_id": {"type": "integer"},
                "author": ref("Person"),
                "body": {"type": "string"},
                "created_at": TIMESTAMP,
            },
            ["id", "case_id", "author", "body", "created_at"],
        ),
    )
    text = {"type": "string", "minLength": 1, "maxLength": 4000}
    doc.schema("WithdrawRequest", _object({"reason": text}, ["reason"]))
    doc.schema("AssistantRequest", _object({"user_id": {"type": "integer", "minimum": 1}}, ["user_id"]))
    doc.schema("NoteRequest", _object({"body": text}, ["body"]))
    doc.schema("ClaimRequest", _object({}, description="No fields: the caller becomes the owner."))

    base = "/api/v1/cases"
    item = base + "/{case_id}"
    doc.operation(
        "post",
        base,
        operation_id="openCase",
        summary="Open a case (front-line staff and first responders).",
        tag="cases",
        request="CaseCreate",
        responses={201: "Case"},
        errors=[403],
    )
    doc.operation(
        "get",
        base,
        operation_id="listCases",
        summary="The cases the caller may see, newest first.",
        tag="cases",
        parameters=[
            query("state", {"type": "string", "enum": list(STATES)}, "Only cases in this state."),
            query(
                "owner",
                {"type": "string", "pattern": "^(me|none|[0-9]+)$"},
                "`me`, `none` (unclaimed) or a user id.",
            ),
            query(
                "q",
                {"type": "string", "maxLength": 200},
                "Text in the reference, summary, customer name or phone, or product.",
            ),
            *page_parameters(),
        ],
        responses={200: "CaseList"},
        errors=[422],
    )
    doc.operation(
        "get",
        item,
        operation_id="getCase",
        summary="One case with the evidence of its steps.",
        tag="cases",
        responses={200: "Case"},
        errors=[403, 404],
    )
    doc.operation(
        "post",
        item + "/claim",
        operation_id="claimCase",
        summary="Become the case's owner (first responders; exactly one claim wins).",
        tag="cases",
        request="ClaimRequest",
        request_required=False,
        responses={200: "Case"},
        errors=[403, 404, 409],
    )
    for step in STEPS:
        answer = ANSWER_FIELD.get(step)
        note = (
            f" Leave out `{answer}` and give `via: customer_link` to send the question to the customer (202)."
            if answer
            else ""
        )
        responses: dict[int, str | Schema | None] = {200: "Case"}
        if answer:
            responses[202] = "Case"
        doc.operation(
            "post",
            f"{item}/steps/{step}",
            operation_id=f"step{_schema_name(step)}",
            summary=f"Complete the {step} step (the owner).",
            description=f"The evidence of the step; `version` guards against a stale view.{note}",
            tag="cases",
            request=doc.schema(f"{_schema_name(step)}StepRequest", step_request_schema(step)),
            responses=responses,
            errors=[403, 404, 409],
        )
    doc.operation(
        "post",
        item + "/withdraw",
        operation_id="withdrawCase",
        summary="Withdraw an open case with a reason (the owner, or its opener while unclaimed).",
        tag="cases",
        request="WithdrawRequest",
        responses={200: "Case"},
        errors=[403, 404, 409],
    )
    doc.operation(
        "post",
        item + "/assistants",
        operation_id="inviteAssistant",
        summary="Invite a colleague to assist (the owner); the case stays the owner's.",
        tag="cases",
        request="AssistantRequest",
        responses={201: "Assistant"},
        errors=[403, 404, 409],
    )
    doc.operation(
        "post",
        item + "/notes",
        operation_id="addNote",
        summary="Add an internal note (the owner and assistants).",
        tag="cases",
        request="NoteRequest",
        responses={201: "Note"},
        errors=[403, 404],
    )
    doc.operation(
        "get",
        item + "/events",
        operation_id="listEvents",
        summary="The case's hash-chained history, oldest first.",
        tag="cases",
        parameters=page_parameters(),
        responses={200: "EventList"},
        errors=[403, 404, 422],
    )


def build_document() -> dict[str, Any]:
    """The whole document, in English, from the current definitions."""
    doc = Document()
    with force_locale("en"):
        for fn in SECTIONS:
            fn(doc)
    return doc.to_dict()


@bp.get("/openapi.json")
@public
def openapi_document() -> Response:
    return jsonify(build_document())
