"""HTTP reward service: serve registered rewards to trainers on other machines or environments.

Why: some rewards cannot live in the trainer's process (COMET needs its own environment, code
execution wants its own host), and other trainers (OpenRLHF, TRL, ours) should be able to use
our rewards. Scoring goes through `rewards.compose`, exactly like local scoring in the trainer.

Routes (JSON in and out; errors are `{"detail": "<what is wrong>"}`):
- `POST /v1/score`  `{"samples": [{"completion", "reward", "columns", "prompt"?}], "settings"?}`
  -> `{"results": [{"score", "status", "reason", "rewards": {name: {score, status, reason}}}]}`,
  one result per sample, in order. `prompt`, if given, is passed as the `prompt` column.
- `POST /openrlhf` (alias `/get_reward`): OpenRLHF's remote reward protocol, see `_openrlhf`.
- `GET /v1/rewards` (served names, columns, descriptions, request-safe and operator settings),
  `GET /healthz` (also says whether the code sandbox is on), `GET /metrics` (Prometheus:
  requests by route/code, latency histogram, per-reward result counts by status),
  `GET /openapi.json` (the models in rewards/http_models.py).

Who sets what (threat model in the README): callers are untrusted, token or not. Reward settings
are the operator's (`create_app(settings=...)`, `rlsys serve-rewards --settings/--set`), checked
at start and applied to every route; a request's `settings` may only change what each reward
declares request-safe, within bounds (rewards/settings.py), else 422 naming the key.

Limits and the choices made:
- Bearer token (optional): `/v1/*`, `/openrlhf`, `/get_reward` need it; `/healthz` and
  `/metrics` do not (probes and scrapers). 401 says whether the token is missing or wrong.
- Body larger than `max_body_bytes`: 413. More samples than `max_batch`: 413. Malformed JSON:
  400. Wrong shape or types: 422 listing each bad field path. Unknown reward name: 422 listing
  the served ones. Only the names given at start are served (all registered ones by default):
  a request can never import `package.module:function` paths of its choosing.
- Request timeout: the request still answers 200; rewards that did not finish within
  `request_timeout_s` (counted from when the body was parsed, waiting for a slot included) give
  their samples status `timeout`, while rewards that finished keep their results. A 504 would
  throw away finished work and invite a retry that would time out again.
- Concurrency: scoring runs in worker threads (never on the event loop), at most
  `max_concurrency` reward calls at a time across all requests; the rest wait. So a reward may
  be called from several threads at once and must be thread-safe (or hold its own lock).
- Keep a client's timeout above `request_timeout_s` (RemoteReward's default 60 s vs 45 s here),
  so slow rewards come back as `timeout` statuses rather than as a client timeout and a retry.
- `Idempotency-Key` header (sent by RemoteReward): a repeated key gets the first answer, a
  duplicate in flight waits for it (rewards/idempotency.py; bounded). A client that hangs up
  before its body is complete is counted as 499, never as a server error.

Not covered: a timed-out reward's thread cannot be killed and runs to its end in the background,
no longer counted against `max_concurrency` (rewards must bound their own work: math and code
use subprocesses with hard limits); one process only (pure-Python rewards share one GIL; run
several services behind a balancer to use more cores); no TLS (bind 127.0.0.1, the default, or
put a proxy in front); OpenRLHF's client sends no Authorization header, so serve it without a
token on a private interface.
"""

from __future__ import annotations

import functools
import hmac
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import anyio
import anyio.to_thread
import typer
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from rewards.base import STATUSES, RewardResult
from rewards.compose import (
    REWARD_FIELD,
    Component,
    CompositeResult,
    combine,
    group_rows,
    parse_reward_field,
    score_reward,
)
from rewards.http_metrics import MetricsMiddleware, ServiceMetrics
from rewards.http_models import (
    ERRORS,
    HealthResponse,
    OpenRLHFRequest,
    OpenRLHFResponse,
    RewardsResponse,
    SampleIn,
    ScoreRequest,
    ScoreResponse,
    openapi,
    request_body,
)
from rewards.idempotency import KeyReused, ResultCache, check_key
from rewards.registry import RewardSpec, get_reward, list_rewards
from rewards.sandbox import UNSAFE_ENV
from rewards.settings import SettingError, check_operator, check_request, describe_settings

SERVICE_VERSION = "1"
CLIENT_CLOSED = 499
DEFAULT_MAX_BODY_BYTES = 32 * 2**20
DEFAULT_MAX_BATCH = 4096
DEFAULT_REQUEST_TIMEOUT_S = 45.0  # below RemoteReward's default 60 s, so timeouts come back as statuses
DEFAULT_MAX_CONCURRENCY = 8
_INLINE_PARSE_BYTES = 2**20  # larger bodies are parsed in a thread so /healthz stays responsive
SCORE_ROUTES = ("/v1/score", "/openrlhf", "/get_reward")
ROUTES = (*SCORE_ROUTES, "/v1/rewards", "/healthz", "/metrics", "/openapi.json")


class RewardService:
    """The state behind the routes: served rewards, limits, the concurrency limiter, metrics."""

    def __init__(
        self,
        specs: dict[str, RewardSpec],
        *,
        token: str | None,
        max_body_bytes: int,
        max_batch: int,
        request_timeout_s: float,
        max_concurrency: int,
        openrlhf_reward: str | None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if max_body_bytes <= 0 or max_batch <= 0 or request_timeout_s <= 0 or max_concurrency <= 0:
            raise ValueError("max_body_bytes, max_batch, request_timeout_s and max_concurrency must be positive")
        self.specs = specs
        self.settings = operator_settings(specs, settings or {})
        self.token = token or None
        self.max_body_bytes = max_body_bytes
        self.max_batch = max_batch
        self.request_timeout_s = request_timeout_s
        self.limiter = anyio.CapacityLimiter(max_concurrency)
        self.openrlhf_reward = openrlhf_reward
        self.metrics = ServiceMetrics()
        self.results = ResultCache()

    def check_token(self, request: Request) -> None:
        if self.token is None:
            return
        header = request.headers.get("authorization")
        if not header:
            raise _auth_error("missing bearer token: send the header 'Authorization: Bearer <token>'")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _auth_error("malformed Authorization header: expected 'Bearer <token>'")
        if not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            raise _auth_error("wrong bearer token")

    async def read_body(self, request: Request) -> bytes:
        return await _read_body(request, self.max_body_bytes)

    async def answer_once(self, request: Request, body: bytes, compute: Any) -> Response:
        """`await compute()` (JSON bytes), once per Idempotency-Key if the request has one."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return Response(await compute(), media_type="application/json")
        try:
            check_key(key)
            data = await self.results.run(key, request.url.path.encode() + b"\0" + body, compute)
        except KeyReused as exc:
            raise HTTPException(422, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return Response(data, media_type="application/json")

    def check_batch(self, n: int) -> None:
        if n > self.max_batch:
            message = f"batch of {n} samples exceeds max_batch={self.max_batch}; split it into smaller requests"
            raise HTTPException(413, message)

    def check_names(self, names: Sequence[str], where: str = "") -> None:
        unknown = sorted(set(names) - set(self.specs))
        if unknown:
            raise HTTPException(422, f"unknown reward(s) {unknown}{where}; this server serves: {sorted(self.specs)}")

    def check_settings(self, settings: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """A request's settings: only request-safe keys within bounds, else 422 naming the key."""
        self.check_names(list(settings), " in settings")
        try:
            return {name: check_request(self.specs[name], values) for name, values in settings.items()}
        except SettingError as exc:
            raise HTTPException(422, str(exc)) from None

    async def score(
        self,
        completions: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        plans: Sequence[tuple[Component, ...]],
        settings: Mapping[str, Mapping[str, Any]],
    ) -> list[CompositeResult]:
        """Each reward's group in its own worker thread; unfinished groups time out per sample.

        `settings` are a request's, already checked; the operator's settings are the defaults under them.
        """
        groups = group_rows(plans)
        done: dict[str, list[RewardResult]] = {}

        async def run(name: str, idx: list[int]) -> None:
            batch = ([completions[i] for i in idx], [rows[i] for i in idx])
            merged = {**self.settings.get(name, {}), **settings.get(name, {})}
            call = functools.partial(score_reward, self.specs[name], *batch, merged)
            done[name] = await anyio.to_thread.run_sync(call, abandon_on_cancel=True, limiter=self.limiter)

        with anyio.move_on_after(self.request_timeout_s):
            async with anyio.create_task_group() as tg:
                for name, idx in groups.items():
                    tg.start_soon(run, name, idx)
        for name, idx in groups.items():
            if name not in done:
                reason = f"reward {name!r} did not finish within the request timeout of {self.request_timeout_s:g} s"
                done[name] = [RewardResult.timeout(reason) for _ in idx]
        self.metrics.record_results(done)
        return combine(plans, groups, done)


def _auth_error(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    over = f"exceeds max_body_bytes={limit}; send smaller batches"
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, f"Content-Length header {declared!r} is not a byte count")
        if int(declared) > limit:
            raise HTTPException(413, f"request body of {declared} bytes {over}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"request body {over}")
            chunks.append(chunk)
    except ClientDisconnect:  # nobody to answer; counted as 499 (nginx's "client closed request"), not a 500
        raise HTTPException(CLIENT_CLOSED, "client closed the connection before sending the whole body") from None
    return b"".join(chunks)


async def parse(body: bytes, model: type[BaseModel]) -> Any:
    """Large bodies are parsed in a thread so that /healthz stays responsive."""
    if len(body) > _INLINE_PARSE_BYTES:
        return await anyio.to_thread.run_sync(_parse, body, model)
    return _parse(body, model)


def _parse(body: bytes, model: type[BaseModel]) -> Any:
    """JSON syntax errors are 400; shape and type errors are 422 with each field path."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        bad_json = next((e for e in exc.errors(include_url=False) if e["type"] == "json_invalid"), None)
        if bad_json is not None:
            raise HTTPException(400, f"request body is not valid JSON: {bad_json['msg']}") from None
        raise HTTPException(422, summarize_validation_error(exc)) from None


def summarize_validation_error(exc: ValidationError, limit: int = 10) -> str:
    """One line per problem, `field.path: message`, e.g. `samples.3.completion: Input should be a valid string`."""
    errors = exc.errors(include_url=False)
    lines = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:limit]]
    more = f"; and {len(errors) - limit} more" if len(errors) > limit else ""
    return "invalid request: " + "; ".join(lines) + more


def _rows_from_samples(samples: Sequence[SampleIn]) -> tuple[list[dict[str, Any]], list[tuple[Component, ...]]]:
    rows, plans = [], []
    for i, sample in enumerate(samples):
        if REWARD_FIELD in sample.columns:
            message = f"samples.{i}.columns: must not contain 'reward' (name rewards in samples.{i}.reward)"
            raise HTTPException(422, message)
        try:
            plans.append(parse_reward_field(sample.reward, f"samples.{i}"))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        row = {**sample.columns, REWARD_FIELD: sample.reward}
        if sample.prompt is not None:
            row.setdefault("prompt", sample.prompt)
        rows.append(row)
    return rows, plans


def operator_settings(
    specs: Mapping[str, RewardSpec], settings: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The operator's settings, checked at start: served rewards, known keys, bounds (ValueError)."""
    unknown = sorted(set(settings) - set(specs))
    if unknown:
        raise ValueError(f"settings for reward(s) {unknown}, which this server does not serve: {sorted(specs)}")
    return {name: check_operator(specs[name], values) for name, values in settings.items()}


def sandbox_state(settings: Mapping[str, Mapping[str, Any]]) -> str:
    """'on', or why the code sandbox is off (the operator's RLSYS_UNSAFE_NO_SANDBOX or setting)."""
    if any(values.get("unsafe_no_sandbox") for values in settings.values()):
        return "OFF (operator setting unsafe_no_sandbox)"
    if os.environ.get(UNSAFE_ENV, "") not in ("", "0", "false", "False"):
        return f"OFF ({UNSAFE_ENV}={os.environ[UNSAFE_ENV]})"
    return "on"


def resolve_served(reward_names: Sequence[str] | None, openrlhf_reward: str | None = None) -> dict[str, RewardSpec]:
    """Names a request may use: the given ones (resolved now, so a typo fails at start) or all registered."""
    specs = dict(list_rewards()) if reward_names is None else {}
    for name in [*(reward_names or ()), *([openrlhf_reward] if openrlhf_reward else [])]:
        spec = get_reward(name)
        specs[name] = spec
        specs.setdefault(spec.name, spec)  # `pkg.mod:fn` decorated with @reward("x") also answers to "x"
    return specs


def create_app(
    reward_names: Sequence[str] | None = None,
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    openrlhf_reward: str | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> FastAPI:
    """Build the app; raises KeyError at once for an unknown reward name, ValueError for bad settings.

    `settings` are the operator's `{reward: {key: value}}`: the only way to set a reward's
    limits on this server; a request may change only the keys a reward declares request-safe.
    """
    service = RewardService(
        resolve_served(reward_names, openrlhf_reward),
        token=token,
        max_body_bytes=max_body_bytes,
        max_batch=max_batch,
        request_timeout_s=request_timeout_s,
        max_concurrency=max_concurrency,
        openrlhf_reward=openrlhf_reward,
        settings=settings,
    )
    app = FastAPI(
        title="rlsys reward service",
        version=SERVICE_VERSION,
        description=__doc__.split("\n\n")[0],
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: openapi(app, secured=service.token is not None)  # type: ignore[method-assign]
    app.state.service = service
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, routes=ROUTES)

    @app.post("/v1/score", response_model=ScoreResponse, responses=ERRORS, openapi_extra=request_body(ScoreRequest))
    async def score(request: Request) -> Response:
        """Score samples, each with the reward(s) it names; one result per sample, in order."""
        service.check_token(request)
        body = await service.read_body(request)
        return await service.answer_once(request, body, lambda: _score(service, body))

    async def openrlhf(request: Request) -> Response:
        """OpenRLHF's remote reward protocol, scored by the reward named at start (--openrlhf-reward)."""
        service.check_token(request)
        if service.openrlhf_reward is None:
            raise HTTPException(404, "this server has no OpenRLHF reward; start it with --openrlhf-reward NAME")
        body = await service.read_body(request)
        return await service.answer_once(request, body, lambda: _openrlhf_json(service, body))

    for path in ("/openrlhf", "/get_reward"):
        app.post(path, response_model=OpenRLHFResponse, responses=ERRORS, openapi_extra=request_body(OpenRLHFRequest))(
            openrlhf
        )

    @app.get("/v1/rewards", response_model=RewardsResponse, responses=ERRORS)
    async def rewards(request: Request) -> Response:
        """The served rewards: columns, description, and which settings a request may set."""
        service.check_token(request)
        return JSONResponse({"rewards": [describe(name, spec) for name, spec in sorted(service.specs.items())]})

    @app.get("/healthz", response_model=HealthResponse)
    async def healthz() -> Response:
        return JSONResponse(
            {"status": "ok", "rewards": sorted(service.specs), "sandbox": sandbox_state(service.settings)}
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def _score(service: RewardService, body: bytes) -> bytes:
    payload: ScoreRequest = await parse(body, ScoreRequest)
    service.check_batch(len(payload.samples))
    rows, plans = _rows_from_samples(payload.samples)
    service.check_names([p.name for parts in plans for p in parts])
    settings = service.check_settings(payload.settings)
    completions = [s.completion for s in payload.samples]
    results = await service.score(completions, rows, plans, settings)
    return bytes(JSONResponse({"results": [r.to_dict() for r in results]}).body)  # always bytes here


async def _openrlhf_json(service: RewardService, body: bytes) -> bytes:
    payload: OpenRLHFRequest = await parse(body, OpenRLHFRequest)
    service.check_batch(len(payload.query))
    return bytes(JSONResponse(await _openrlhf(service, payload)).body)


def describe(name: str, spec: RewardSpec) -> dict[str, Any]:
    return {
        "name": name,
        "columns": list(spec.columns),
        "optional_columns": list(spec.optional_columns),
        "description": spec.description,
        **describe_settings(spec),
    }


async def _openrlhf(service: RewardService, payload: OpenRLHFRequest) -> dict[str, Any]:
    """OpenRLHF sends `query` (prompt + response text), `prompts` and `labels`.

    The reward is the one named at start (`--openrlhf-reward`); each label goes into that
    reward's first required column, and the completion is the query minus its prompt prefix
    (a query that does not start with its prompt is an `error` sample).

    OpenRLHF needs a number for every sample, so this is the one place a failed reward becomes
    a number: 0.0 in `rewards`/`scores`. `extra_logs` carries per-sample 0/1 indicators
    `reward_ok`, `reward_error`, `reward_timeout`, `reward_not_applicable` (OpenRLHF averages and
    logs them, so failure rates show up in its dashboards), and the extra key `results` carries
    every sample's status and reason.
    """
    name = service.openrlhf_reward
    assert name is not None
    n = len(payload.query)
    prompts = payload.prompts if payload.prompts is not None else [""] * n
    labels = payload.labels if payload.labels is not None else [None] * n
    if len(prompts) != n or len(labels) != n:
        raise HTTPException(422, f"query has {n} items but prompts has {len(prompts)} and labels {len(labels)}")
    spec = service.specs[name]
    column = spec.columns[0] if spec.columns else "label"
    results: list[CompositeResult | None] = [None] * n
    keep = []
    for i, (query, prompt) in enumerate(zip(payload.query, prompts, strict=True)):
        if query.startswith(prompt):
            keep.append(i)
        else:
            reason = f"query {i} does not start with its prompt; cannot cut out the completion"
            results[i] = CompositeResult.error(reason)
    completions = [payload.query[i][len(prompts[i]) :] for i in keep]
    rows = [{REWARD_FIELD: name, column: labels[i], "prompt": prompts[i]} for i in keep]
    scored = await service.score(completions, rows, [(Component(name),)] * len(keep), {})
    for i, result in zip(keep, scored, strict=True):
        results[i] = result
    final = [r for r in results if r is not None]
    numbers = [r.score if r.status == "ok" else 0.0 for r in final]
    extra_logs = {f"reward_{s}": [1.0 if r.status == s else 0.0 for r in final] for s in STATUSES}
    return {"rewards": numbers, "scores": numbers, "extra_logs": extra_logs, "results": [r.to_dict() for r in final]}


class _AnnouncingServer(uvicorn.Server):
    """Prints the URL once the socket is listening (port 0 picks a free port)."""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            print(f"rlsys reward service ready at http://{host}:{port}", flush=True)


def serve(
    reward_names: Sequence[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    log_level: str = "info",
    **app_options: Any,
) -> None:
    """Run the service with uvicorn until interrupted."""
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host} without a token; anyone who can reach it can score", file=sys.stderr)
    app = create_app(reward_names, token=token, **app_options)
    state = sandbox_state(app.state.service.settings)
    if state != "on":
        print(
            f"WARNING: the code sandbox is {state}: programs sent by clients run WITHOUT a sandbox "
            "and can read and change this host",
            file=sys.stderr,
            flush=True,
        )
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    _AnnouncingServer(config).run()


def serve_rewards(
    rewards: Annotated[
        str, typer.Option(help="Comma-separated reward names or package.module:function paths; empty = all registered.")
    ] = "",
    host: Annotated[str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it local.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one (the URL is printed when ready).")] = 8000,
    token_env: Annotated[
        str, typer.Option(help="Name of an environment variable holding the bearer token clients must send.")
    ] = "",
    max_body_bytes: Annotated[int, typer.Option(help="Larger request bodies get 413.")] = 32 * 2**20,
    max_batch: Annotated[int, typer.Option(help="Requests with more samples get 413.")] = 4096,
    request_timeout_s: Annotated[
        float, typer.Option(help="Rewards unfinished after this many seconds give status 'timeout'.")
    ] = 45.0,
    max_concurrency: Annotated[int, typer.Option(help="Reward calls running at once, across requests.")] = 8,
    openrlhf_reward: Annotated[
        str, typer.Option(help="Reward used by the OpenRLHF-compatible route POST /openrlhf (and /get_reward).")
    ] = "",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    settings: Annotated[
        str, typer.Option(help="YAML/JSON file of the operator's reward settings: {reward: {key: value}}.")
    ] = "",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Operator setting REWARD.KEY=VALUE (YAML value), repeatable; wins over --settings."),
    ] = None,
) -> None:
    """Serve reward functions over HTTP (POST /v1/score, OpenRLHF route, /metrics)."""
    from rewards.settings import SettingError, load_settings_file, parse_assignments

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise typer.BadParameter(f"environment variable {token_env!r} is unset or empty", param_hint="--token-env")
    names = [n.strip() for n in rewards.split(",") if n.strip()] or None
    try:
        operator = load_settings_file(settings) if settings else {}
        for name, values in parse_assignments(set_ or []).items():
            operator.setdefault(name, {}).update(values)
    except SettingError as exc:
        raise typer.BadParameter(str(exc), param_hint="--settings/--set") from None
    try:
        serve(
            names,
            host=host,
            port=port,
            token=token,
            log_level=log_level,
            max_body_bytes=max_body_bytes,
            max_batch=max_batch,
            request_timeout_s=request_timeout_s,
            max_concurrency=max_concurrency,
            openrlhf_reward=openrlhf_reward or None,
            settings=operator,
        )
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\"")) from None


def main(args: list[str] | None = None, prog_name: str = "python -m rewards.service") -> None:
    """The server's command line (`python -m rewards.service`, `rlsys serve-rewards`)."""
    cli = typer.Typer(add_completion=False)
    cli.command()(serve_rewards)
    cli(args=args, prog_name=prog_name)


if __name__ == "__main__":
    main()
