"""The breaking-change check beyond shapes: tightened request constraints, response media types,
headers and enum values, security, operationIds and renamed operations; 3.0 and 3.1 spellings and
``$ref`` resolution; and the hand edits of the committed document that used to pass as
"descriptions or metadata"."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from policies import apishape
from policies.openapi_diff import breaking, diff

from .test_openapi_shape import base_doc, kinds, schemas

ROOT = Path(__file__).resolve().parents[2]


def create_props(doc):
    return schemas(doc)["ApplicationCreate"]["properties"]


def list_op(doc):
    return doc["paths"]["/v1/applications"]["get"]


def limit_param(schema):
    return {"name": "limit", "in": "query", "required": False, "schema": schema}


# ----- requests: tightened constraints -----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"type": "string", "maxLength": 200}, {"type": "string", "maxLength": 5}),
        ({"type": "string"}, {"type": "string", "maxLength": 200}),
        ({"type": "string", "minLength": 1}, {"type": "string", "minLength": 3}),
        ({"type": "string"}, {"type": "string", "pattern": "^[a-z]+$"}),
        ({"type": "string", "pattern": "^.*$"}, {"type": "string", "pattern": "^[a-z]+$"}),
        ({"type": "string"}, {"type": "string", "format": "uri"}),
        ({"type": "integer", "minimum": 1}, {"type": "integer", "minimum": 2}),
        ({"type": "integer", "maximum": 100}, {"type": "integer", "maximum": 50}),
        ({"type": "integer"}, {"type": "integer", "minimum": 0}),
        # 3.1 numeric exclusive bound, and the 3.0 boolean spelling
        ({"type": "number", "minimum": 0}, {"type": "number", "exclusiveMinimum": 0}),
        (
            {"type": "number", "maximum": 10},
            {"type": "number", "maximum": 10, "exclusiveMaximum": True},
        ),
        ({"type": "integer", "multipleOf": 2}, {"type": "integer", "multipleOf": 3}),
        (
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        ),
        (
            {"type": "array", "items": {"type": "string", "maxLength": 100}},
            {"type": "array", "items": {"type": "string", "maxLength": 10}},
        ),
        ({"type": "object"}, {"type": "object", "additionalProperties": False}),
        # 3.1 nullable spellings: the constraint sits on the non-null alternative
        (
            {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
            {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
        ),
        (
            {"type": ["string", "null"], "maxLength": 200},
            {"type": ["string", "null"], "maxLength": 5},
        ),
        (
            {"type": "string", "maxLength": 200},
            {"oneOf": [{"type": "null"}, {"type": "string", "maxLength": 5}]},
        ),
    ],
)
def test_tightened_request_constraint_is_breaking(old, new):
    before, after = base_doc(), base_doc()
    create_props(before)["location"] = old
    create_props(after)["location"] = new
    changes = breaking(diff(before, after))
    assert {c.kind for c in changes} == {"tightened-constraint"}
    assert {c.where.removesuffix("[]") for c in changes} == {
        "POST /v1/applications request.location"
    }


def test_tightened_parameter_constraint_through_a_parameter_ref():
    before, after = base_doc(), base_doc()
    for doc, minimum in ((before, 1), (after, 5)):
        doc["components"]["parameters"] = {
            "Limit": limit_param({"type": "integer", "minimum": minimum, "maximum": 100})
        }
        list_op(doc)["parameters"].append({"$ref": "#/components/parameters/Limit"})
    changes = breaking(diff(before, after))
    assert [(c.kind, c.where) for c in changes] == [
        ("tightened-constraint", "GET /v1/applications query parameter limit")
    ]
    assert "1 -> >= 5" in changes[0].detail


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 200}),
        ({"type": "string", "pattern": "^[a-z]+$"}, {"type": "string"}),
        ({"type": "integer", "minimum": 2}, {"type": "integer", "minimum": 1}),
        ({"type": "number", "exclusiveMinimum": 0}, {"type": "number", "minimum": 0}),
        ({"type": "integer", "multipleOf": 4}, {"type": "integer", "multipleOf": 2}),
        (
            {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
            {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}]},
        ),
    ],
)
def test_relaxed_request_constraint_is_a_compatible_change(old, new):
    before, after = base_doc(), base_doc()
    create_props(before)["location"] = old
    create_props(after)["location"] = new
    changes = diff(before, after)
    assert changes and breaking(changes) == []
    assert {c.kind for c in changes} == {"changed-constraint"}


def test_constraint_change_in_a_response_alone_is_not_breaking():
    new = base_doc()
    schemas(new)["Application"]["properties"]["company"] = {"type": "string", "maxLength": 5}
    changes = diff(base_doc(), new)
    assert changes and breaking(changes) == []


# ----- requests: enums, required fields, parameters, media types ---------------------------------


@pytest.mark.parametrize("limited", [{"enum": ["engineer"]}, {"const": "engineer"}])
def test_enum_appearing_on_a_free_request_value_is_narrowed(limited):
    new = base_doc()
    create_props(new)["role_title"] = {"type": "string", **limited}
    assert kinds(base_doc(), new) == {"narrowed-enum"}


def test_enum_value_removed_inside_a_nullable_array_parameter():
    def doc_with(values):
        doc = base_doc()
        list_op(doc)["parameters"][0]["schema"] = {
            "anyOf": [
                {"type": "array", "items": {"type": "string", "enum": values}},
                {"type": "null"},
            ]
        }
        return doc

    changes = breaking(diff(doc_with(["applied", "offer"]), doc_with(["applied"])))
    assert [(c.kind, c.where) for c in changes] == [
        ("narrowed-enum", "GET /v1/applications query parameter status[]")
    ]


def test_new_required_header_parameter():
    new = base_doc()
    new["paths"]["/v1/applications/{id}"]["delete"]["parameters"] = [
        {"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"}}
    ]
    changes = breaking(diff(base_doc(), new))
    assert [(c.kind, c.where) for c in changes] == [
        ("new-required-request-field", "DELETE /v1/applications/{id} header parameter if-match")
    ]


def test_optional_request_body_becoming_required():
    old, new = base_doc(), base_doc()
    for doc, required in ((old, False), (new, True)):
        doc["paths"]["/v1/applications"]["post"]["requestBody"]["required"] = required
    assert kinds(old, new) == {"new-required-request-field"}


def test_request_media_type_no_longer_accepted():
    new = base_doc()
    body = new["paths"]["/v1/applications"]["post"]["requestBody"]
    body["content"] = {"application/x-www-form-urlencoded": body["content"]["application/json"]}
    assert kinds(base_doc(), new) == {"changed-media-type"}


def test_request_body_schema_through_a_request_body_ref():
    old, new = base_doc(), base_doc()
    for doc in (old, new):
        op = doc["paths"]["/v1/applications"]["post"]
        doc["components"]["requestBodies"] = {"Create": op["requestBody"]}
        op["requestBody"] = {"$ref": "#/components/requestBodies/Create"}
    create_props(new)["company"] = {"type": "string", "maxLength": 5}
    assert kinds(old, new) == {"tightened-constraint"}


# ----- responses ---------------------------------------------------------------------------------


def test_response_switched_from_json_to_csv():
    new = base_doc()
    ok = new["paths"]["/v1/applications"]["get"]["responses"]["200"]
    ok["content"] = {"text/csv": {"schema": {"type": "string"}}}
    changes = breaking(diff(base_doc(), new))
    assert [(c.kind, c.where) for c in changes] == [
        ("changed-media-type", "GET /v1/applications response 200")
    ]
    assert "application/json -> text/csv" in changes[0].detail


def test_response_body_removed():
    new = base_doc()
    del new["paths"]["/v1/applications"]["get"]["responses"]["200"]["content"]
    assert kinds(base_doc(), new) == {"changed-media-type"}


def test_response_enum_value_removed_but_added_is_compatible():
    def doc_with(values):
        doc = base_doc()
        schemas(doc)["Application"]["properties"]["kind"] = {"type": "string", "enum": values}
        return doc

    assert kinds(doc_with(["a", "b"]), doc_with(["a"])) == {"removed-response-enum-value"}
    changes = diff(doc_with(["a"]), doc_with(["a", "b"]))
    assert changes and breaking(changes) == []


def test_response_type_changed_through_an_all_of():
    old, new = base_doc(), base_doc()
    for doc, id_type in ((old, "string"), (new, "integer")):
        schemas(doc)["Identified"] = {
            "type": "object",
            "properties": {"id": {"type": id_type}},
            "required": ["id"],
        }
        schemas(doc)["Application"] = {
            "allOf": [
                {"$ref": "#/components/schemas/Identified"},
                {k: v for k, v in schemas(doc)["Application"].items() if k != "properties"}
                | {
                    "properties": {
                        k: v
                        for k, v in schemas(doc)["Application"]["properties"].items()
                        if k != "id"
                    }
                },
            ]
        }
    assert kinds(old, new) == {"changed-type"}


def test_response_header_removed_and_response_ref_resolved():
    old, new = base_doc(), base_doc()
    for doc, headers in ((old, {"ETag": {"schema": {"type": "string"}}}), (new, {})):
        created = doc["paths"]["/v1/applications"]["post"]["responses"]["201"]
        doc["components"]["responses"] = {"Created": {**created, "headers": headers}}
        doc["paths"]["/v1/applications"]["post"]["responses"]["201"] = {
            "$ref": "#/components/responses/Created"
        }
    changes = breaking(diff(old, new))
    assert [(c.kind, c.where) for c in changes] == [
        ("removed-response-header", "POST /v1/applications response 201 header etag")
    ]
    added = diff(new, old)
    assert added and breaking(added) == []


# ----- operations: security, operationId, renames ------------------------------------------------


def with_security(doc, requirement, schemes=None):
    doc["components"]["securitySchemes"] = schemes or {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "refreshCookie": {"type": "apiKey", "in": "cookie", "name": "refresh_token"},
    }
    if requirement is not None:
        list_op(doc)["security"] = requirement
    return doc


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([{"bearerAuth": []}], []),  # security removed from the operation
        ([{"bearerAuth": []}], None),  # ... by falling back to the empty document default
        ([], [{"bearerAuth": []}]),  # added
        ([{"bearerAuth": []}], [{"refreshCookie": []}]),  # replaced
        ([{"bearerAuth": []}], [{"bearerAuth": []}, {}]),  # made optional
    ],
)
def test_security_change_is_breaking(old, new):
    assert kinds(with_security(base_doc(), old), with_security(base_doc(), new)) == {
        "changed-security"
    }


def test_security_inherited_from_the_document_counts():
    old = with_security(base_doc(), None)
    old["security"] = [{"bearerAuth": []}]
    new = copy.deepcopy(old)
    del new["security"]
    changes = breaking(diff(old, new))
    assert {c.kind for c in changes} == {"changed-security"}
    assert "GET /v1/applications" in {c.where for c in changes}


def test_security_scheme_definition_change_is_breaking():
    old = with_security(base_doc(), [{"refreshCookie": []}])
    new = copy.deepcopy(old)
    new["components"]["securitySchemes"]["refreshCookie"]["name"] = "rt"
    assert kinds(old, new) == {"changed-security"}


def test_operation_id_changed():
    old, new = base_doc(), base_doc()
    list_op(old)["operationId"] = "get__v1_applications"
    list_op(new)["operationId"] = "listApplications"
    changes = breaking(diff(old, new))
    assert [(c.kind, c.where) for c in changes] == [
        ("changed-operation-id", "GET /v1/applications")
    ]


def test_operation_renamed_to_another_path_keeps_its_operation_id():
    old, new = base_doc(), base_doc()
    list_op(old)["operationId"] = list_op(new)["operationId"] = "listApplications"
    new["paths"]["/v1/job-applications"] = {"get": new["paths"]["/v1/applications"].pop("get")}
    changes = breaking(diff(old, new))
    assert [(c.kind, c.where) for c in changes] == [("renamed-operation", "GET /v1/applications")]
    assert "GET /v1/job-applications" in changes[0].detail


def test_renamed_path_parameter_is_compared_as_the_same_path():
    new = base_doc()
    item = new["paths"].pop("/v1/applications/{id}")
    item["parameters"][0]["name"] = "application_id"
    new["paths"]["/v1/applications/{application_id}"] = item
    changes = breaking(diff(base_doc(), new))
    assert [(c.kind, c.where) for c in changes] == [
        (
            "new-required-request-field",
            "DELETE /v1/applications/{id} path parameter application_id",
        )
    ]


# ----- the committed document, edited by hand ----------------------------------------------------


@pytest.fixture
def committed():
    doc = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert diff(doc, copy.deepcopy(doc)) == []
    return doc


def _operation(doc, method, path):
    return doc["paths"][path][method]


def _query_param(doc, method, path, name):
    for p in _operation(doc, method, path).get("parameters", []):
        p = _deref(doc, p)
        if p["name"] == name:
            return p
    raise AssertionError(f"{method.upper()} {path} has no parameter {name}")


def _deref(doc, node):
    while "$ref" in node:
        target = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _create_schema(doc):
    body = _operation(doc, "post", "/v1/applications")["requestBody"]["content"]
    return _deref(doc, body["application/json"]["schema"])


def _only_string(schema):
    """The string alternative of a (possibly nullable) property schema."""
    for alt in schema.get("anyOf", [schema]):
        if alt.get("type") == "string":
            return alt
    raise AssertionError(f"no string alternative in {schema}")


def _lower_company_max_length(doc):
    company = _only_string(_create_schema(doc)["properties"]["company"])
    assert company["maxLength"] > 5
    company["maxLength"] = 5


def _add_pattern(doc):
    _only_string(_create_schema(doc)["properties"]["company"])["pattern"] = "^[A-Z]{3}$"


def _remove_security(doc):
    _operation(doc, "get", "/v1/applications")["security"] = []


def _json_to_csv(doc):
    ok = _operation(doc, "get", "/v1/users/me/export")["responses"]["200"]
    ok["content"] = {"text/csv": {"schema": {"type": "string"}}}


def _raise_query_minimum(doc):
    schema = _query_param(doc, "get", "/v1/applications", "limit")["schema"]
    schema["minimum"] = schema["minimum"] + 1


@pytest.mark.parametrize(
    ("edit", "kind", "where"),
    [
        (
            _lower_company_max_length,
            "tightened-constraint",
            "POST /v1/applications request.company",
        ),
        (_add_pattern, "tightened-constraint", "POST /v1/applications request.company"),
        (_remove_security, "changed-security", "GET /v1/applications"),
        (_json_to_csv, "changed-media-type", "GET /v1/users/me/export response 200"),
        (
            _raise_query_minimum,
            "tightened-constraint",
            "GET /v1/applications query parameter limit",
        ),
    ],
)
def test_hand_edits_of_the_committed_document_fail_the_check(
    committed, tmp_path, edit, kind, where
):
    live = copy.deepcopy(committed)
    edit(live)
    found = breaking(diff(committed, live))
    assert (kind, where) in {(c.kind, c.where) for c in found}

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "openapi.json").write_text(json.dumps(committed))
    messages = [m for m, _ in apishape.make_check(lambda: live)(tmp_path)]
    assert messages and all(m.startswith("breaking API change") for m in messages)
    assert any(f"{kind}: {where}" in m for m in messages)


def _one_of_two_objects(first: tuple[str, ...], second: tuple[str, ...]) -> dict:
    def shape(fields):
        return {
            "type": "object",
            "properties": {field: {"type": "string"} for field in fields},
            "required": list(fields),
        }

    schema = {"anyOf": [shape(first), shape(second)]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/v1/auth/login": {
                "post": {
                    "operationId": "login",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": schema}},
                        }
                    },
                }
            }
        },
    }


def test_alternatives_of_one_type_are_paired_by_their_fields():
    """A session or an MFA challenge: two object shapes under one anyOf. Each is compared with
    the shape that shares its fields, so the document equals itself and a field removed from
    one shape is reported once."""
    old = _one_of_two_objects(("access_token", "user"), ("mfa_ticket", "methods"))
    assert diff(old, copy.deepcopy(old)) == []
    new = _one_of_two_objects(("access_token",), ("mfa_ticket", "methods"))
    assert [(c.kind, c.where) for c in breaking(diff(old, new))] == [
        ("removed-response-field", "POST /v1/auth/login response 200.user")
    ]
