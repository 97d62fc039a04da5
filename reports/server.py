"""The pull API (`plantstream reports serve`): reports, the real-time feed, auth, audit.

FastAPI: the OpenAPI spec comes from the same type-annotated handlers that validate the
requests (no hand-kept spec to drift), the security scheme (HTTP bearer) is part of the
spec, and the synchronous handlers run in a thread pool, so the blocking InfluxQL reads
need no async client. Errors are JSON `{"error": code, "reason": text}` with a 4xx
status (503 when InfluxDB cannot be reached; 500 for an unexpected error, which is
logged and counted in `/healthz`). `plantstream.reports.accounting` audits each pull
once delivered and writes every refused request to the security log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Annotated, Any, Literal

import msgspec
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from plantstream import __version__
from plantstream.errors import PlantStreamError, StoreError
from plantstream.i18n import Lang, negotiate
from plantstream.reports.accounting import (
    Accounting,
    Counters,
    SecurityLog,
    note_caller,
    note_refusal,
    pending_pull,
)
from plantstream.reports.audit import AuditLog
from plantstream.reports.auth import Authenticator, AuthError, TokenBucket
from plantstream.reports.compute import build_report, resolve_scope
from plantstream.reports.config import LoadedConfig, Regulator
from plantstream.reports.document import report_csv, report_json
from plantstream.reports.errors import ReportInputError
from plantstream.reports.model import Report
from plantstream.reports.mu.access import authorize_jurisdiction
from plantstream.reports.mu.document import render_jurisdiction
from plantstream.reports.mu.model import JurisdictionReport
from plantstream.reports.mu.report import build_jurisdiction_report, parse_each_mu_period
from plantstream.reports.pdf import report_pdf
from plantstream.reports.periods import parse_day, parse_period
from plantstream.reports.realtime import Feed, realtime_feed
from plantstream.reports.source import Source
from plantstream.store.influxql import InfluxQL

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no token, unknown, revoked or expired token", **_ERROR},
    403: {"description": "the scope is not in the token's scope", **_ERROR},
    404: {"description": "unknown site or enterprise", **_ERROR},
    422: {"description": "invalid parameter, with the reason", **_ERROR},
    429: {"description": "rate limited, per regulator, or too many failed authentications "
                         "from the client address (Retry-After says when to retry)", **_ERROR},
    500: {"description": "an unexpected error (logged and counted in /healthz)", **_ERROR},
    503: {"description": "the time-series store is unreachable", **_ERROR},
}
# ids as configured (plantstream.wire.Id): ASCII letters, digits, `_`, `.`, `-`
_ID = r"^[A-Za-z0-9_.\-]+$"
_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def _error(status: int, code: str, reason: str,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "reason": reason}, status_code=status, headers=headers)


def _check_year(day: dt.date, field: str) -> None:
    if not 2000 <= day.year <= 2100:
        raise ReportInputError(field=field, reason=f"{day} is outside 2000-2100")


_BEARER = HTTPBearer(auto_error=False, description="a regulator's token")


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _regulator(request: Request,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
               ) -> Regulator:
    """The calling regulator (401 otherwise), after taking a token from its bucket (429).

    Failed authentications are counted per client address: once its bucket is spent,
    the address gets a 429 whatever token it sends, so tokens cannot be guessed fast."""
    auth: Authenticator = request.app.state.auth
    bucket: TokenBucket = request.app.state.bucket
    failures: TokenBucket = request.app.state.auth_failures
    address = _client(request)
    wait = failures.wait_s(address)
    if wait > 0:
        raise AuthError(429, "too_many_auth_failures",
                        "too many failed authentications from this address",
                        retry_after_s=wait)
    try:
        if credentials is None and request.headers.get("authorization"):
            raise AuthError(401, "invalid_token",
                            "the Authorization header is not a bearer token")
        found = auth.regulator(f"Bearer {credentials.credentials}" if credentials else None)
    except AuthError:
        failures.spend(address)
        raise
    note_caller(request, found.id)
    bucket.take(found.id)
    return found


Caller = Annotated[Regulator, Depends(_regulator)]


def create_app(*, loaded: LoadedConfig, client: InfluxQL) -> FastAPI:
    source = Source(client=client, kind=loaded.config.influx.source)
    auth = Authenticator(loaded=loaded)
    bucket = TokenBucket(limit=loaded.config.rate_limit)
    counters = Counters()
    app = FastAPI(title="PlantStream regulator reports", version=__version__,
                  description="Energy-intensity and dual-control reports and the real-time "
                              "monitoring feed, per enterprise or site, for regulators.")
    app.state.auth = auth
    app.state.bucket = bucket
    app.state.auth_failures = TokenBucket(limit=loaded.config.auth_failure_limit)
    app.add_middleware(Accounting, audit=AuditLog(path=loaded.audit_path),
                       security=SecurityLog(path=loaded.security_log_path), counters=counters)

    @app.exception_handler(AuthError)
    def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        note_refusal(request, regulator=exc.regulator, detail=exc.detail)
        headers: dict[str, str] = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
        if exc.retry_after_s is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
        return _error(exc.status, exc.code, exc.reason, headers)

    @app.exception_handler(ReportInputError)
    def _input_error(_: Request, exc: ReportInputError) -> JSONResponse:
        return _error(exc.status, "not_found" if exc.status == 404 else "invalid_request",
                      f"{exc.field}: {exc.reason}")

    @app.exception_handler(StoreError)
    def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        log.warning("store error: %s", exc)
        return _error(503, "store_unavailable", "the time-series store did not answer")

    @app.exception_handler(PlantStreamError)
    def _domain_error(_: Request, exc: PlantStreamError) -> JSONResponse:
        return _error(422, "invalid_request", str(exc))

    @app.exception_handler(RequestValidationError)
    def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                            for e in exc.errors())
        return _error(422, "invalid_request", reasons or "invalid request")

    @app.get("/healthz", summary="liveness, and counts of answers since the start",
             responses={200: {"description": "ok; unexpected_errors counts the 500s"}})
    def healthz() -> dict[str, str | int]:
        return {"status": "ok", **counters.as_dict()}

    @app.get("/v1/whoami", summary="the calling regulator and its scope", responses=_ERRORS)
    def whoami(caller: Caller) -> dict[str, Any]:
        return {"regulator": caller.id, "name": caller.name, "scope": sorted(caller.scope)}

    @app.get(
        "/v1/reports/energy", summary="energy-intensity and dual-control report",
        description="The CSV's labels and the PDF are in the regulator's configured language "
                    "(`lang`: en or zh-CN) unless the request sends `Accept-Language` (the "
                    "answer's `Content-Language` says which); the JSON, and so the content "
                    "hash, is the same in every language.",
        response_class=Response,
        responses={200: {"description": "the report; X-Content-SHA256 is its content hash",
                         "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/Report"}},
                             "text/csv": {"schema": {"type": "string"}},
                             "application/pdf": {"schema": {"type": "string",
                                                            "format": "binary"}}}},
                   **_ERRORS})
    def energy_report(
        request: Request, caller: Caller,
        scope: Annotated[str, Query(description="site or enterprise id", min_length=1,
                                    max_length=64, pattern=_ID)],
        period: Annotated[str, Query(description="YYYY-MM-DD, YYYY-MM, YYYY-Qn, YYYY or "
                                                 "YYYY-MM-DD..YYYY-MM-DD", max_length=40)],
        format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json",
        as_of: Annotated[str | None, Query(description="last day of data to use, YYYY-MM-DD",
                                           max_length=32)] = None,
    ) -> Response:
        auth.authorize(caller, scope)
        parsed = parse_period(period)
        last = parse_day(as_of, field="as_of") if as_of is not None else None
        report = build_report(loaded, source, scope_id=scope, period=parsed, as_of=last)
        lang = negotiate(request.headers.get("accept-language"), default=caller.lang)
        body, digest = _render(report, format, lang)
        pending_pull(request, regulator=caller.id, action="report", scope=scope,
                     detail=f"energy {parsed.label} {format}", sha256=digest, size=len(body))
        headers = {"X-Content-SHA256": digest, "Vary": "Accept-Language"}
        if format != "json":
            headers["Content-Language"] = lang
        if format != "json":
            headers["Content-Disposition"] = (
                f'attachment; filename="energy-{scope}-{parsed.label.replace("..", "_")}.'
                f'{format}"')
        return Response(content=body, media_type=_MEDIA[format], headers=headers)

    @app.get(
        "/v1/reports/each-mu", summary="Each Mu is a Hero: a jurisdiction's evaluation",
        response_class=Response,
        responses={200: {"description": "the report; X-Content-SHA256 is its content hash",
                         "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/JurisdictionReport"}},
                             "text/csv": {"schema": {"type": "string"}},
                             "application/pdf": {"schema": {"type": "string",
                                                            "format": "binary"}}}},
                   **_ERRORS})
    def each_mu_report(
        request: Request, caller: Caller,
        jurisdiction: Annotated[str, Query(description="jurisdiction id; the token's scope "
                                           "must cover all its enterprises", min_length=1,
                                           max_length=64, pattern=_ID)],
        period: Annotated[str, Query(description="YYYY (year) or YYYY-MM (year to date)",
                                     max_length=40)],
        format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json",
    ) -> Response:
        authorize_jurisdiction(loaded, caller, jurisdiction)
        parsed = parse_each_mu_period(period)
        report = build_jurisdiction_report(loaded, source, jurisdiction_id=jurisdiction,
                                           period=parsed)
        body, digest = render_jurisdiction(report, format)
        pending_pull(request, regulator=caller.id, action="each_mu", scope=jurisdiction,
                     detail=f"each-mu {parsed.label} {format}", sha256=digest, size=len(body))
        headers = {"X-Content-SHA256": digest}
        if format != "json":
            headers["Content-Disposition"] = (
                f'attachment; filename="each-mu-{jurisdiction}-'
                f'{parsed.label.replace("..", "_")}.{format}"')
        return Response(content=body, media_type=_MEDIA[format], headers=headers)

    @app.get("/v1/sites/{site}/realtime", summary="monitoring feed: interval, daily, "
             "monthly values per carrier", response_class=Response,
             responses={200: {"description": "the feed",
                              "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/Feed"}}}},
                        **_ERRORS})
    def realtime(
        request: Request, caller: Caller,
        site: Annotated[str, Path(description="site id", max_length=64, pattern=_ID)],
        day: Annotated[str | None, Query(description="local day, YYYY-MM-DD; default today",
                                         max_length=32)] = None,
    ) -> Response:
        auth.authorize(caller, site)
        scope = resolve_scope(loaded, site)
        local_day = dt.datetime.now(tz=scope.zone).date() if day is None \
            else parse_day(day, field="day")
        _check_year(local_day, "day")
        feed = realtime_feed(loaded, source, site=site, day=local_day)
        body = msgspec.json.encode(feed)
        digest = hashlib.sha256(body).hexdigest()
        pending_pull(request, regulator=caller.id, action="realtime", scope=site,
                     detail=local_day.isoformat(), sha256=digest, size=len(body))
        return Response(content=body, media_type="application/json",
                        headers={"X-Content-SHA256": digest})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)
        _, components = msgspec.json.schema_components(
            [Report, Feed, JurisdictionReport], ref_template="#/components/schemas/{name}")
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(components)
        schemas["Error"] = {"type": "object", "required": ["error", "reason"],
                            "properties": {"error": {"type": "string"},
                                           "reason": {"type": "string"}}}
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _render(report: Report, fmt: str, lang: Lang) -> tuple[bytes, str]:
    """The report's bytes and content hash; CSV labels and the PDF in `lang`, the JSON
    (and so the hash) the same in every language."""
    if fmt == "csv":
        return report_csv(report, lang)
    body, digest = report_json(report)
    if fmt == "pdf":
        return report_pdf(report, digest, lang), digest
    return body, digest
