"""The durable store-and-forward queue of an edge agent (SQLite in WAL mode).

Why SQLite: one file, atomic transactions that survive SIGKILL and power loss
(WAL + synchronous=FULL: a committed batch is on disk), no server on a small gateway,
and the sequence number, the batch and the batcher checkpoint commit together, so a
sequence number is never reused and no interval is lost or closed twice.

A batch stays in the queue from the moment it is closed until the broker acknowledges
it (PUBACK); only then is it deleted.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DiskQueue", "QueuedBatch"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq        INTEGER PRIMARY KEY,
    t_start_ms INTEGER NOT NULL,
    t_end_ms   INTEGER NOT NULL,
    closed_ms  INTEGER NOT NULL,
    payload    BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class QueuedBatch:
    seq: int
    t_start_ms: int
    t_end_ms: int
    closed_ms: int
    payload: bytes


class DiskQueue:
    def __init__(self, *, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def next_seq(self) -> int:
        return int(self._meta("next_seq") or 0)

    @property
    def last_t_end_ms(self) -> int | None:
        value = self._meta("last_t_end_ms")
        return None if value is None else int(value)

    def checkpoint(self) -> dict[str, Any] | None:
        value = self._meta("checkpoint")
        return None if value is None else dict(json.loads(value))

    def enqueue(self, *, t_start_ms: int, t_end_ms: int,
                encode: Callable[[int], bytes], checkpoint: dict[str, Any]) -> int:
        """Assign the next sequence number, store the batch `encode(seq)` and the
        checkpoint, all in one transaction. Returns the sequence number."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            seq = self.next_seq
            db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
                       (seq, t_start_ms, t_end_ms, int(time.time() * 1000), encode(seq)))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                ("next_seq", str(seq + 1)), ("last_t_end_ms", str(t_end_ms)),
                ("checkpoint", json.dumps(checkpoint))])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return seq

    def oldest(self, limit: int) -> list[QueuedBatch]:
        rows = self._db.execute(
            "SELECT seq, t_start_ms, t_end_ms, closed_ms, payload FROM batches "
            "ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [QueuedBatch(*row) for row in rows]

    def delete(self, seqs: Iterable[int]) -> None:
        """Forget batches the broker acknowledged (one transaction)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM batches WHERE seq = ?", [(s,) for s in seqs])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM batches").fetchone()[0])

    def oldest_closed_ms(self) -> int | None:
        row = self._db.execute("SELECT min(closed_ms) FROM batches").fetchone()
        return None if row[0] is None else int(row[0])
