"""Ingest's durable spool: line protocol that InfluxDB could not take yet.

When a write fails a few times in a row, the body goes to the spool (SQLite, WAL,
synchronous=FULL) and the MQTT messages are acknowledged: the points are durable here.
A replay task writes the spool back in order when InfluxDB returns. While the spool is
not empty, new bodies are appended behind it, so the order of writes is kept.

Only transient failures spool a body (connection errors, 5xx, auth, throttling): a
body InfluxDB refuses is bisected to its refused messages, which are dead-lettered. A
body appended behind a non-empty spool has not been tried yet; should InfluxDB refuse
it on replay, the worker writes its other lines and counts each refused line as a
`store_rejected` dead-letter point (its messages are acknowledged already).

Bound: `max_bytes`. When the spool is full, `append` refuses (returns False); the worker
then keeps retrying without acknowledging, so the broker holds the messages instead:
backpressure, and nothing is dropped. Refusals are counted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["Spool"]


class Spool:
    def __init__(self, *, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.refused = 0
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS spool "
                         "(id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)")
        self._bytes = int(self._db.execute(
            "SELECT coalesce(sum(length(body)), 0) FROM spool").fetchone()[0])
        self._depth = int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def append(self, body: bytes) -> bool:
        """Store a body durably; False (and counted) when the spool is full."""
        if self._bytes + len(body) > self.max_bytes:
            self.refused += 1
            return False
        self._db.execute("INSERT INTO spool (body) VALUES (?)", (body,))
        self._bytes += len(body)
        self._depth += 1
        return True

    def oldest(self) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT id, body FROM spool ORDER BY id LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def remove(self, spool_id: int, size: int) -> None:
        self._db.execute("DELETE FROM spool WHERE id = ?", (spool_id,))
        self._bytes -= size
        self._depth -= 1
