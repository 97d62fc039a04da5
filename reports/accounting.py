"""Every request to the pull API accounted for: an ASGI middleware around the app.

* A pull (a handler calls `pending_pull`) is written to the audit log once its response
  body has been handed to the connection ("delivered"), or as "failed" with the reason
  when the client went away first or the server failed while answering.
* Every answer with a status of 400 or more is one JSON line in the security log
  (`SecurityEntry`): the regulator, or "anonymous" without a valid token, the path, the
  status, the error code and the reason (for a refused token, the reason the caller was
  not told, e.g. whose revoked token it was).
* An unexpected exception is logged with its traceback, counted (`/healthz`), answered
  500 `{"error": "internal_error", ...}`, and in the security log.
* Every answer carries `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.

A bearer token never appears in clear: the security log has the first 12 hex digits
of its SHA-256, and the token's text is replaced by `[token]` wherever a careless
caller put it (path, reasons, a traceback).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import json
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plantstream.reports.audit import AuditLog

__all__ = ["Accounting", "Counters", "SecurityEntry", "SecurityLog", "note_caller",
           "note_refusal", "pending_pull"]

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
MAX_BODY = 1 << 20  # request bodies (no endpoint takes one) above this are a 413
MAX_FIELD = 300  # characters of a path or reason kept in the security log
_HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
_REPLACED = {name for name, _ in _HEADERS}
_STATE = "plantstream.accounting"


class SecurityEntry(msgspec.Struct, frozen=True):
    at: str  # UTC, ISO 8601
    client: str  # the client address as the server sees it
    regulator: str  # "anonymous" without a valid token
    method: str
    path: str
    status: int
    error: str
    reason: str
    token: str  # "sha256:" and 12 hex digits of the bearer token sent; "" when none


class SecurityLog:
    """JSON lines, ASCII only; appended with a lock and flushed (not fsynced: it can
    take a flood)."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: SecurityEntry) -> None:
        # ASCII (\uXXXX escapes): a hostile path cannot split a line or reach a terminal
        line = json.dumps(msgspec.to_builtins(entry), ensure_ascii=True).encode() + b"\n"
        with self._lock, open(self.path, "ab") as f:
            f.write(line)
            f.flush()


@dataclass
class Counters:
    """What `/healthz` reports (since the server started)."""

    requests: int = 0
    refused: int = 0  # answered 4xx
    server_errors: int = 0  # answered 5xx
    unexpected_errors: int = 0  # exceptions nothing handled (answered 500)
    pulls_delivered: int = 0
    pulls_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Pull:
    regulator: str
    action: str
    scope: str
    detail: str
    sha256: str
    size: int


@dataclass
class _Notes:
    """What the handlers tell the middleware about a request (in the ASGI scope)."""

    regulator: str | None = None
    refusal_detail: str | None = None
    pull: _Pull | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _notes(request: Request) -> _Notes:
    state = request.scope.setdefault("state", {})
    notes = state.get(_STATE)
    if not isinstance(notes, _Notes):
        notes = state[_STATE] = _Notes()
    return notes


def note_caller(request: Request, regulator: str) -> None:
    """The request comes from this (authenticated) regulator."""
    _notes(request).regulator = regulator


def note_refusal(request: Request, *, regulator: str | None, detail: str) -> None:
    """Why a request is refused, for the security log only (the answer says less)."""
    notes = _notes(request)
    notes.regulator = regulator or notes.regulator
    notes.refusal_detail = detail


def pending_pull(request: Request, *, regulator: str, action: str, scope: str, detail: str,
                 sha256: str, size: int) -> None:
    """The response is a pull: audit it once delivered (or failed)."""
    _notes(request).pull = _Pull(regulator=regulator, action=action, scope=scope,
                                 detail=detail, sha256=sha256, size=size)


class _Connection:
    """The request body read ahead, replayed to the app, and a watch for the client
    going away while the answer is computed."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._messages: collections.deque[Message] = collections.deque()
        self._gone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closing = False  # the final body is being sent: ignore what receive says
        self.disconnected = False

    async def read_request(self) -> bool:
        """The whole request body; False when it is too large or the client left."""
        size = 0
        while True:
            message = await self._receive()
            self._messages.append(message)
            if message["type"] != "http.request":
                self.disconnected = True
                self._gone.set()
                return False
            size += len(message.get("body", b""))
            if size > MAX_BODY:
                return False
            if not message.get("more_body", False):
                self._task = asyncio.create_task(self._listen())
                return True

    async def _listen(self) -> None:
        # after the body, the server's receive returns only when the client disconnects
        # or the response is complete
        await self._receive()
        if not self.closing:
            self.disconnected = True
        self._gone.set()

    async def receive(self) -> Message:
        if self._messages:
            return self._messages.popleft()
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _scrubber(token: str | None) -> Callable[[str], str]:
    def scrub(text: str) -> str:
        if token and len(token) >= 8:
            text = text.replace(token, "[token]")
        return text if len(text) <= MAX_FIELD else text[:MAX_FIELD] + "..."

    return scrub


def _error_of(body: bytes) -> tuple[str, str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return "", body[:MAX_FIELD].decode("utf-8", "replace")
    if isinstance(parsed, dict):
        reason = parsed.get("reason", parsed.get("detail", ""))
        return str(parsed.get("error", "")), str(reason)
    return "", ""


class Accounting:
    """The middleware (see the module docstring). `counters` is what `/healthz` shows."""

    def __init__(self, app: ASGIApp, *, audit: AuditLog, security: SecurityLog,
                 counters: Counters) -> None:
        self.app = app
        self.audit = audit
        self.security = security
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.counters.requests += 1
        state = scope.setdefault("state", {})
        notes = state[_STATE] = _Notes()
        token = _bearer(scope)
        scrub = _scrubber(token)
        connection = _Connection(receive)
        status = 0
        complete = False
        failure = ""
        error_body = bytearray()

        async def send_accounted(message: Message) -> None:
            nonlocal status, complete, failure
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in _REPLACED]
                message = {**message, "headers": [*headers, *_HEADERS]}
            elif message["type"] == "http.response.body":
                if status >= 400 and len(error_body) < 8192:
                    error_body.extend(message.get("body", b"")[:8192])
                if not message.get("more_body", False):
                    await asyncio.sleep(0)  # let the watch see a disconnect already noticed
                    if connection.disconnected:
                        failure = "the client disconnected before the body was complete"
                    connection.closing = True
                    await send(message)
                    complete = not failure
                    return
            await send(message)

        try:
            if await connection.read_request():
                await self.app(scope, connection.receive, send_accounted)
            elif not connection.disconnected:
                await self._answer(send_accounted, 413, "request_too_large",
                                   f"a request body is at most {MAX_BODY} bytes")
        except Exception as exc:  # anything no handler turned into an answer
            self.counters.unexpected_errors += 1
            text = "".join(traceback.format_exception(exc))
            log.error("unexpected error answering %s %s:\n%s", scope.get("method"),
                      scrub(scope.get("path", "")), text.replace(token, "[token]")
                      if token and len(token) >= 8 else text)
            failure = failure or f"server error: {type(exc).__name__}"
            if status == 0:
                await self._answer(send_accounted, 500, "internal_error",
                                   "an unexpected server error (logged)")
        finally:
            await connection.close()
        await self._account(scope, notes, status, complete, failure, bytes(error_body),
                            token, scrub)

    @staticmethod
    async def _answer(send: Send, status: int, code: str, reason: str) -> None:
        body = json.dumps({"error": code, "reason": reason}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _account(self, scope: Scope, notes: _Notes, status: int, complete: bool,
                       failure: str, error_body: bytes, token: str | None,
                       scrub: Callable[[str], str]) -> None:
        client = scope["client"][0] if scope.get("client") else ""
        if status >= 500:
            self.counters.server_errors += 1
        elif status >= 400:
            self.counters.refused += 1
        pull = notes.pull
        if pull is not None:
            delivered = complete and status == 200
            if delivered:
                self.counters.pulls_delivered += 1
            else:
                self.counters.pulls_failed += 1
            await anyio.to_thread.run_sync(lambda: self.audit.write(
                regulator=pull.regulator, action=pull.action, scope=pull.scope,
                detail=pull.detail, sha256=pull.sha256, size=pull.size, client=client,
                outcome="delivered" if delivered else "failed",
                reason="" if delivered else failure or f"answered {status}"))
        if status >= 400 or status == 0:
            error, reason = _error_of(error_body)
            entry = SecurityEntry(
                at=dt.datetime.now(tz=dt.UTC).isoformat(timespec="milliseconds"),
                client=client, regulator=notes.regulator or ANONYMOUS,
                method=str(scope.get("method", "")), path=scrub(str(scope.get("path", ""))),
                status=status, error=error or ("no_answer" if status == 0 else ""),
                reason=scrub(notes.refusal_detail or reason or failure or "no reason given"),
                token=_fingerprint(token) if token else "")
            await anyio.to_thread.run_sync(lambda: self.security.write(entry))
