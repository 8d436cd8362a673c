"""The one source of request/response contracts: spectree validates at the edge and generates
the OpenAPI 3.1 document from the same pydantic models.

Requests are always validated. Responses are checked against their documented model, and for
fields the model does not declare, where ``CHECK_RESPONSES`` is on (the default everywhere but
production, so the whole test suite runs with it): every response a test provokes is held to
the contract, and a field added to a serialiser (a password hash, say) fails the tests that
reach it. Production skips the check: each response is built by an explicit serialiser that
names every field it writes (an allow-list), and checking it again per request cost more than
the rest of a list request's Python (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import falcon
from pydantic import BaseModel, ValidationError
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType
from spectree.plugins.falcon_plugin import FalconPlugin

from app.core.errors import ValidationFailed
from app.schemas.common import ErrorEnvelope
from app.schemas.text import PATTERN_MESSAGES


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's error list as the envelope's ``details``: one entry per field."""
    details = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        if error.get("type") == "string_pattern_mismatch":
            # spectree drops pydantic's context, so the pattern is read back from the message.
            for pattern, readable in PATTERN_MESSAGES.items():
                if message.endswith(f"'{pattern}'"):
                    message = readable
        details.append({"field": ".".join(location) or "body", "message": message})
    return details


def raise_validation_error(
    req: falcon.Request,
    resp: falcon.Response,
    req_validation_error: Any,
    instance: Any,
    model_adapter: Any,
) -> None:
    """spectree's before-hook: a failed validation becomes the 422 error envelope."""
    if req_validation_error is not None:
        raise ValidationFailed(
            validation_details(model_adapter.validation_errors(req_validation_error))
        )


def model_name(model: type[Any]) -> str:
    """Schema names are the model's own name: stable and readable in the document."""
    return model.__name__


def nested_name(parent: str, child: str) -> str:
    return child


def undeclared_fields(payload: Any, validated: Any, path: str = "") -> list[str]:
    """Where ``payload`` holds a key its validated model does not declare, as dotted paths.

    pydantic ignores unknown keys when it validates a response, so validation alone would let
    an extra field through; this walks the payload beside the model instance validated from it.
    """
    found: list[str] = []
    if isinstance(validated, BaseModel) and isinstance(payload, dict):
        fields = type(validated).model_fields
        declared = {info.alias or name: name for name, info in fields.items()}
        for key, value in payload.items():
            if key not in declared:
                found.append(f"{path}{key}")
            else:
                found += undeclared_fields(
                    value, getattr(validated, declared[key]), f"{path}{key}."
                )
    elif isinstance(validated, list | tuple) and isinstance(payload, list | tuple):
        for index, (value, item) in enumerate(zip(payload, validated, strict=False)):
            found += undeclared_fields(value, item, f"{path}{index}.")
    elif isinstance(validated, dict) and isinstance(payload, dict):
        for key, value in payload.items():
            found += undeclared_fields(value, validated.get(key), f"{path}{key}.")
    return found


class ResponseCheckingPlugin(FalconPlugin):
    """spectree's Falcon plugin, its response validation switched by ``CHECK_RESPONSES`` and,
    when on, also refusing any field the documented model does not declare (a 500, as for a
    response that fails validation)."""

    check_responses = True

    def validate_response(
        self,
        resp: falcon.Response,
        resp_model: Response | None,
        skip_validation: bool,
        force_resp_serialize: bool,
    ) -> Exception | None:
        if not self.check_responses:
            return None
        error = super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)
        if error is not None or skip_validation or resp_model is None:
            return error
        model = resp_model.find_model(int(str(resp.status).split()[0]))
        if model is None or resp.media is None:
            return None
        extra = undeclared_fields(resp.media, model.model_validate(resp.media))
        if not extra:
            return None
        # Reported as pydantic reports a field a model forbids, as spectree reports a failure.
        error = ValidationError.from_exception_data(
            model.__name__,
            [
                {"type": "extra_forbidden", "loc": tuple(name.split(".")), "input": None}
                for name in extra
            ],
        )
        resp.status = 500
        resp.media = self.model_adapter.validation_errors(error)
        return error


def check_responses(enabled: bool) -> None:
    """Turn the response check on or off for every operation (``CHECK_RESPONSES``)."""
    backend = api_spec.backend
    if not isinstance(backend, ResponseCheckingPlugin):
        raise TypeError("the spec is built with ResponseCheckingPlugin")
    backend.check_responses = enabled


def build_spec() -> SpecTree:
    return SpecTree(
        "falcon",
        backend=ResponseCheckingPlugin,
        title="Job App Tracker API",
        version="1.0.0",
        description=(
            "Track job applications. Every response is an envelope: "
            "`{success, data, meta}` or `{success: false, error: {code, message, details}, "
            "meta}`. Authenticate with the access token from /v1/auth/login as a Bearer token; "
            "the refresh token lives in an HttpOnly cookie scoped to /v1/auth."
        ),
        mode="strict",
        annotations=True,
        naming_strategy=model_name,
        nested_naming_strategy=nested_name,
        validation_error_model=ErrorEnvelope,
        before=raise_validation_error,
        security_schemes=[
            SecurityScheme(
                name="bearerAuth",
                data=SecuritySchemeData(
                    type=SecureType.HTTP,
                    scheme="bearer",
                    bearer_format="JWT",
                    description="The access token from login or refresh.",
                ),
            )
        ],
    )


api_spec = build_spec()
