"""Request and response models of the reward service, and the OpenAPI schema built from them.

Why the routes parse bodies by hand: the size limit must apply before parsing, large bodies are
parsed in a thread, and validation errors are reported as one readable line per field. So the
request models are not FastAPI body parameters; `openapi(app)` declares them in the schema
(`GET /openapi.json`) so that it describes what the routes really accept. Response models are
declared as `response_model` (documentation only: the routes build their JSON themselves).

Not covered: no interactive docs page (/docs needs JavaScript from a CDN; point any OpenAPI
viewer at /openapi.json instead).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

Status = Literal["ok", "not_applicable", "timeout", "error"]


class SampleIn(BaseModel):
    """One completion and the reward(s) that judge it."""

    model_config = ConfigDict(extra="forbid")
    completion: str
    reward: Any = Field(
        description="A reward name, or a list of {name, weight} (weighted sum).",
        json_schema_extra={
            "anyOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "weight": {"type": "number"}},
                        "required": ["name"],
                    },
                },
            ]
        },
    )
    columns: dict[str, Any] = Field({}, description="The row's verification columns (answer, tests, src, ...).")
    prompt: str | list[dict[str, Any]] | None = Field(None, description="Passed to rewards as column 'prompt'.")


class ScoreRequest(BaseModel):
    """Body of POST /v1/score."""

    model_config = ConfigDict(extra="forbid")
    samples: list[SampleIn]
    settings: dict[str, dict[str, Any]] = Field(
        {},
        description="{reward: {key: value}}: only the settings each reward declares request-safe "
        "(GET /v1/rewards -> request_settings); anything else is 422.",
    )


class OpenRLHFRequest(BaseModel):
    """Body of POST /openrlhf (OpenRLHF's remote reward protocol); other fields are ignored."""

    model_config = ConfigDict(extra="ignore")  # OpenRLHF versions add fields; ignore what we do not use
    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None


class RewardOut(BaseModel):
    score: float | None = Field(description="Set exactly when status is 'ok'.")
    status: Status
    reason: str


class ResultOut(RewardOut):
    rewards: dict[str, RewardOut] = Field(description="Each component reward's own result.")


class ScoreResponse(BaseModel):
    results: list[ResultOut] = Field(description="One per sample, in order.")


class OpenRLHFResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]
    results: list[ResultOut]


class RewardInfo(BaseModel):
    name: str
    columns: list[str]
    optional_columns: list[str]
    description: str
    request_settings: dict[str, dict[str, Any]] = Field(description="Settings a request may set, with bounds.")
    operator_settings: list[str] = Field(description="Settings only the server's operator sets.")


class RewardsResponse(BaseModel):
    rewards: list[RewardInfo]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    rewards: list[str]
    sandbox: str = Field(description="'on', or why the code sandbox is off (operator's choice).")


class ErrorOut(BaseModel):
    detail: str = Field(description="What is wrong with the request, naming the field.")


REQUEST_MODELS = {"/v1/score": ScoreRequest, "/openrlhf": OpenRLHFRequest, "/get_reward": OpenRLHFRequest}
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 413, 422)}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is parsed by hand into `model`."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def openapi(app: FastAPI, secured: bool) -> dict[str, Any]:
    """The schema with the hand-parsed request models added (and bearer auth when a token is set)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    models: tuple[type[BaseModel], ...] = (ScoreRequest, OpenRLHFRequest)
    for model in models:
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in found.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[model.__name__] = found
    if secured:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        for path, operations in schema["paths"].items():
            if path.startswith("/v1/") or path in REQUEST_MODELS:
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema
