"""The one source of request/response contracts: spectree validates at the edge and generates
the OpenAPI 3.1 document from the same pydantic models."""

from __future__ import annotations

from typing import Any

from spectree import SecurityScheme, SecuritySchemeData, SpecTree

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


def raise_validation_error(req, resp, req_validation_error, instance, model_adapter) -> None:
    """spectree's before-hook: a failed validation becomes the 422 error envelope."""
    if req_validation_error is not None:
        raise ValidationFailed(
            validation_details(model_adapter.validation_errors(req_validation_error))
        )


def model_name(model) -> str:
    """Schema names are the model's own name: stable and readable in the document."""
    return model.__name__


def nested_name(parent: str, child: str) -> str:
    return child


def build_spec() -> SpecTree:
    return SpecTree(
        "falcon",
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
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="The access token from login or refresh.",
                ),
            )
        ],
    )


api_spec = build_spec()
