"""The audit log: one JSON line per pull (who, what, when, hash, delivered or not).

Written once the response body has been handed to the connection (`outcome`
"delivered"), or when delivering it failed (`outcome` "failed", with the reason: the
client went away first, or the server failed while sending); appended with a lock,
flushed and fsynced. Requests refused before a pull are in the security log
(`plantstream.reports.accounting`).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import msgspec

__all__ = ["AuditEntry", "AuditLog", "read_audit"]


class AuditEntry(msgspec.Struct, frozen=True):
    at: str  # UTC, ISO 8601
    regulator: str
    action: str  # "report" or "realtime"
    scope: str
    detail: str  # period and format, or the day of the feed
    sha256: str  # report content hash; SHA-256 of the body for the feed
    bytes: int
    client: str
    outcome: str = "delivered"  # or "failed"
    reason: str = ""  # why a delivery failed


class AuditLog:
    def __init__(self, *, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, *, regulator: str, action: str, scope: str, detail: str, sha256: str,
              size: int, client: str, outcome: str = "delivered",
              reason: str = "") -> AuditEntry:
        entry = AuditEntry(at=dt.datetime.now(tz=dt.UTC).isoformat(timespec="milliseconds"),
                           regulator=regulator, action=action, scope=scope, detail=detail,
                           sha256=sha256, bytes=size, client=client, outcome=outcome,
                           reason=reason)
        line = msgspec.json.encode(entry) + b"\n"
        with self._lock, open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        return entry


def read_audit(path: Path) -> list[AuditEntry]:
    if not path.exists():
        return []
    return [msgspec.json.decode(line, type=AuditEntry)
            for line in path.read_bytes().splitlines() if line.strip()]
