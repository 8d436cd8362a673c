"""The API-shape check: each kind of breaking change fails, compatible changes ask for a snapshot
update, a new version passes, and the runner step skips until the app has a generator."""

from __future__ import annotations

import copy
import json

import pytest

from policies import apishape, check
from policies.openapi_diff import breaking, diff


def base_doc() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Job App Tracker API", "version": "1.0.0"},
        "paths": {
            "/v1/applications": {
                "get": {
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {"$ref": "#/components/schemas/Status"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ApplicationList"}
                                }
                            },
                        }
                    },
                },
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ApplicationCreate"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ApplicationEnvelope"}
                                }
                            },
                        }
                    },
                },
            },
            "/v1/applications/{id}": {
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "delete": {"responses": {"204": {"description": "gone"}}},
            },
        },
        "components": {
            "schemas": {
                "Status": {
                    "type": "string",
                    "enum": ["applied", "interviewing", "offer", "rejected"],
                },
                "Application": {
                    "type": "object",
                    "required": ["id", "company", "status"],
                    "properties": {
                        "id": {"type": "string"},
                        "company": {"type": "string"},
                        "status": {"$ref": "#/components/schemas/Status"},
                        "salary": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                        "links": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "ApplicationEnvelope": {
                    "type": "object",
                    "properties": {
                        "success": {"type": "boolean"},
                        "data": {"$ref": "#/components/schemas/Application"},
                    },
                },
                "ApplicationList": {
                    "type": "object",
                    "properties": {
                        "success": {"type": "boolean"},
                        "data": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Application"},
                        },
                        "meta": {"type": "object", "properties": {"total": {"type": "integer"}}},
                    },
                },
                "ApplicationCreate": {
                    "type": "object",
                    "required": ["company", "role_title"],
                    "properties": {
                        "company": {"type": "string"},
                        "role_title": {"type": "string"},
                        "status": {"$ref": "#/components/schemas/Status"},
                        "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    },
                },
            }
        },
    }


def kinds(old, new):
    return {c.kind for c in breaking(diff(old, new))}


def schemas(doc):
    return doc["components"]["schemas"]


def test_identical_documents_have_no_changes():
    assert diff(base_doc(), base_doc()) == []


def test_removed_path():
    new = base_doc()
    del new["paths"]["/v1/applications/{id}"]
    assert kinds(base_doc(), new) == {"removed-path"}


def test_removed_operation():
    new = base_doc()
    del new["paths"]["/v1/applications"]["post"]
    assert kinds(base_doc(), new) == {"removed-operation"}


def test_removed_response_field_nested_through_refs_and_arrays():
    new = base_doc()
    del schemas(new)["Application"]["properties"]["company"]
    schemas(new)["Application"]["required"].remove("company")
    changes = breaking(diff(base_doc(), new))
    assert {c.kind for c in changes} == {"removed-response-field"}
    wheres = {c.where for c in changes}
    assert "GET /v1/applications response 200.data[].company" in wheres
    assert "POST /v1/applications response 201.data.company" in wheres


def test_response_field_no_longer_required():
    new = base_doc()
    schemas(new)["Application"]["required"].remove("status")
    assert kinds(base_doc(), new) == {"removed-response-field"}


def test_removed_meta_field():
    new = base_doc()
    del schemas(new)["ApplicationList"]["properties"]["meta"]["properties"]["total"]
    assert kinds(base_doc(), new) == {"removed-response-field"}


def test_new_required_request_field():
    new = base_doc()
    schemas(new)["ApplicationCreate"]["properties"]["source"] = {"type": "string"}
    schemas(new)["ApplicationCreate"]["required"].append("source")
    assert kinds(base_doc(), new) == {"new-required-request-field"}


def test_optional_request_field_becoming_required():
    new = base_doc()
    schemas(new)["ApplicationCreate"]["required"].append("notes")
    assert kinds(base_doc(), new) == {"new-required-request-field"}


def test_new_required_parameter():
    new = base_doc()
    new["paths"]["/v1/applications"]["get"]["parameters"].append(
        {"name": "page", "in": "query", "required": True, "schema": {"type": "integer"}}
    )
    assert kinds(base_doc(), new) == {"new-required-request-field"}


def test_request_body_becoming_required():
    old = base_doc()
    new = base_doc()
    new["paths"]["/v1/applications/{id}"]["delete"]["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    assert kinds(old, new) == {"new-required-request-field"}


@pytest.mark.parametrize(
    ("where", "old_type", "new_type"),
    [
        ("Application.id", {"type": "string"}, {"type": "integer"}),
        ("ApplicationCreate.company", {"type": "string"}, {"type": "integer"}),
        (
            "Application.salary",
            {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            {"type": "string"},
        ),
        (
            "Application.links",
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "integer"}},
        ),
    ],
)
def test_changed_type(where, old_type, new_type):
    schema, prop = where.split(".")
    old, new = base_doc(), base_doc()
    schemas(old)[schema]["properties"][prop] = old_type
    schemas(new)[schema]["properties"][prop] = new_type
    assert kinds(old, new) == {"changed-type"}


def test_response_becoming_nullable_is_a_changed_type():
    new = base_doc()
    schemas(new)["Application"]["properties"]["company"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    assert kinds(base_doc(), new) == {"changed-type"}


def test_parameter_type_change():
    new = base_doc()
    new["paths"]["/v1/applications/{id}"]["parameters"][0]["schema"] = {"type": "integer"}
    assert kinds(base_doc(), new) == {"changed-type"}


def test_narrowed_enum_in_request_and_parameter():
    new = base_doc()
    schemas(new)["Status"]["enum"].remove("rejected")
    changes = breaking(diff(base_doc(), new))
    by_kind = {(c.kind, c.where) for c in changes}
    assert ("narrowed-enum", "POST /v1/applications request.status") in by_kind
    assert ("narrowed-enum", "GET /v1/applications query parameter status") in by_kind
    # the same schema is also returned: the client loses a value it may match on
    assert ("removed-response-enum-value", "GET /v1/applications response 200.data[].status") in (
        by_kind
    )
    assert {c.kind for c in changes} == {"narrowed-enum", "removed-response-enum-value"}


def test_removed_success_response():
    new = base_doc()
    new["paths"]["/v1/applications"]["post"]["responses"] = {
        "200": new["paths"]["/v1/applications"]["post"]["responses"]["201"]
    }
    assert "removed-response" in kinds(base_doc(), new)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["paths"].__setitem__(
            "/v1/companies", {"get": {"responses": {"200": {"description": "ok"}}}}
        ),
        lambda d: d["paths"]["/v1/applications/{id}"].__setitem__(
            "get", {"responses": {"200": {"description": "ok"}}}
        ),
        lambda d: schemas(d)["Application"]["properties"].__setitem__("source", {"type": "string"}),
        lambda d: schemas(d)["ApplicationCreate"]["properties"].__setitem__(
            "source", {"type": "string"}
        ),
        lambda d: schemas(d)["Status"]["enum"].append("ghosted"),
        lambda d: schemas(d)["ApplicationCreate"]["required"].remove("role_title"),
        lambda d: schemas(d)["ApplicationCreate"]["properties"].__setitem__(
            "company", {"anyOf": [{"type": "string"}, {"type": "null"}]}
        ),
        lambda d: d["info"].__setitem__("description", "now with words"),
    ],
)
def test_compatible_changes_are_not_breaking_but_are_changes(change):
    new = base_doc()
    change(new)
    changes = diff(base_doc(), new)
    assert changes and breaking(changes) == []


def test_breaking_change_under_a_new_version_passes():
    new = base_doc()
    v2 = copy.deepcopy(new["paths"]["/v1/applications"])
    v2["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "type": "object",
        "required": ["company", "role_title", "source"],
        "properties": {
            "company": {"type": "integer"},
            "role_title": {"type": "string"},
            "source": {"type": "string"},
        },
    }
    new["paths"]["/v2/applications"] = v2
    assert breaking(diff(base_doc(), new)) == []


def test_recursive_schemas_terminate():
    doc = base_doc()
    schemas(doc)["Application"]["properties"]["parent"] = {
        "$ref": "#/components/schemas/Application"
    }
    new = copy.deepcopy(doc)
    del schemas(new)["Application"]["properties"]["id"]
    schemas(new)["Application"]["required"].remove("id")
    assert "removed-response-field" in kinds(doc, new)


# ----- the runner step -------------------------------------------------------------------------


def _write_snapshot(root, doc):
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "openapi.json").write_text(json.dumps(doc))


def test_breaking_change_fails_with_the_list(tmp_path):
    _write_snapshot(tmp_path, base_doc())
    live = base_doc()
    del live["paths"]["/v1/applications"]["post"]
    schemas(live)["Status"]["enum"].remove("offer")
    found = list(apishape.make_check(lambda: live)(tmp_path))
    text = "\n".join(m for m, _ in found)
    assert "removed-operation: POST /v1/applications" in text and "narrowed-enum" in text
    assert all(m.startswith("breaking API change") for m, _ in found)


def test_compatible_change_asks_for_a_snapshot_update(tmp_path):
    _write_snapshot(tmp_path, base_doc())
    live = base_doc()
    schemas(live)["Application"]["properties"]["source"] = {"type": "string"}
    found = list(apishape.make_check(lambda: live)(tmp_path))
    assert len(found) == 1 and "--update-openapi-snapshot" in found[0][0]


def test_unchanged_document_passes(tmp_path):
    _write_snapshot(tmp_path, base_doc())
    assert list(apishape.make_check(base_doc)(tmp_path)) == []


def test_missing_snapshot_fails(tmp_path):
    found = list(apishape.make_check(base_doc)(tmp_path))
    assert found and "no committed snapshot" in found[0][0]


def test_generation_failure_is_reported(tmp_path):
    def boom():
        raise RuntimeError("settings refused")

    found = list(apishape.make_check(boom)(tmp_path))
    assert found and "could not generate" in found[0][0] and "settings refused" in found[0][0]


def test_update_snapshot_refuses_breaking_changes(tmp_path, capsys):
    _write_snapshot(tmp_path, base_doc())
    live = base_doc()
    del live["paths"]["/v1/applications/{id}"]
    code = check.main(["--update-openapi-snapshot"], root=tmp_path, openapi_generator=lambda: live)
    assert code == 1 and "removed-path" in capsys.readouterr().err
    assert json.loads((tmp_path / "docs" / "openapi.json").read_text()) == base_doc()
    code = check.main(
        ["--update-openapi-snapshot", "--allow-breaking"],
        root=tmp_path,
        openapi_generator=lambda: live,
    )
    assert code == 0 and json.loads((tmp_path / "docs" / "openapi.json").read_text()) == live


def test_update_snapshot_writes_compatible_changes(tmp_path):
    live = base_doc()
    assert (
        check.main(["--update-openapi-snapshot"], root=tmp_path, openapi_generator=lambda: live)
        == 0
    )
    assert json.loads((tmp_path / "docs" / "openapi.json").read_text()) == live


def test_step_is_skipped_while_the_app_has_no_generator(tmp_path, monkeypatch):
    monkeypatch.setattr(apishape, "generator_available", lambda: False)
    run = check.run_guardrails(tmp_path, [apishape.guardrail()])
    assert run.outcome.findings == []
    assert "not yet available" in run.outcome.not_applicable["api-shape"][0]
