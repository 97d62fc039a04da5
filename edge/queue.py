"""The durable store-and-forward queue of an edge agent (SQLite in WAL mode).

Why SQLite: one file, atomic transactions that survive SIGKILL and power loss
(WAL + synchronous=FULL: a committed batch is on disk), no server on a small gateway,
and the sequence number, the batch and the batcher checkpoint commit together, so a
sequence number is never reused and no interval is lost or closed twice.

Lifecycle of a batch: closed -> queued (unacknowledged) -> acknowledged by the broker
(PUBACK) -> forgotten `keep_acked_s` later. Acknowledged batches are kept a while
because a broker that crashes (SIGKILL, power loss) can lose what it acknowledged
since its last persistence save; after every reconnect the uplink republishes what
was acknowledged within that window. Ingest writes are idempotent, so the duplicates
cost bandwidth, never correctness.

Bound and overflow policy (`max_bytes`, counted in `shed_samples` / `shed_batches`):
1. shed raw samples first: the oldest batches are rewritten without their samples
   (state, counters and energy stay); every stripped sample counts as shed (an upper
   bound: an acknowledged batch's samples may have been delivered already);
2. then forget acknowledged batches kept for republishing, oldest first;
3. only when nothing else is left, shed the oldest whole unacknowledged batches.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from plantstream.wire import Batch, encode

__all__ = ["DiskQueue", "QueuedBatch"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq        INTEGER PRIMARY KEY,
    t_start_ms INTEGER NOT NULL,
    t_end_ms   INTEGER NOT NULL,
    closed_ms  INTEGER NOT NULL,
    acked_ms   INTEGER,
    samples    INTEGER NOT NULL DEFAULT 0,
    payload    BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_unacked ON batches (acked_ms, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_DECODER = msgspec.json.Decoder(Batch)


@dataclass(frozen=True, slots=True)
class QueuedBatch:
    seq: int
    t_start_ms: int
    t_end_ms: int
    closed_ms: int
    payload: bytes


def _now_ms() -> int:
    return int(time.time() * 1000)


def _without_samples(payload: bytes) -> bytes:
    batch = _DECODER.decode(payload)
    return encode(msgspec.structs.replace(batch, machines=[
        msgspec.structs.replace(m, samples=[]) for m in batch.machines]))


class DiskQueue:
    def __init__(self, *, path: Path, max_bytes: int = 512 * 1024**2,
                 keep_acked_s: float = 60.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.keep_acked_ms = int(keep_acked_s * 1000)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # kept as a running total: scanning the table on every enqueue is quadratic
        self._size = int(self._db.execute(
            "SELECT coalesce(sum(length(payload)), 0) FROM batches").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    # --- metadata -----------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _counter(self, key: str) -> int:
        return int(self._meta(key) or 0)

    @property
    def next_seq(self) -> int:
        return self._counter("next_seq")

    @property
    def last_t_end_ms(self) -> int | None:
        value = self._meta("last_t_end_ms")
        return None if value is None else int(value)

    @property
    def shed_samples(self) -> int:
        return self._counter("shed_samples")

    @property
    def shed_batches(self) -> int:
        return self._counter("shed_batches")

    def checkpoint(self) -> dict[str, Any] | None:
        value = self._meta("checkpoint")
        return None if value is None else dict(json.loads(value))

    # --- writing ------------------------------------------------------------------

    def _transaction(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

    def enqueue(self, *, t_start_ms: int, t_end_ms: int, encode: Callable[[int], bytes],
                checkpoint: dict[str, Any], samples: int = 0,
                shed_samples: Callable[[], int] | None = None) -> int:
        """Assign the next sequence number, store the batch `encode(seq)` and the
        checkpoint, all in one transaction; then enforce the bound. Returns the seq.
        `shed_samples()`, called after `encode`, says how many of the interval's
        `samples` the encoding left out (counted as shed)."""

        def work(db: sqlite3.Connection) -> int:
            seq = self.next_seq
            payload = encode(seq)
            shed = shed_samples() if shed_samples is not None else 0
            db.execute("INSERT INTO batches (seq, t_start_ms, t_end_ms, closed_ms, samples, "
                       "payload) VALUES (?, ?, ?, ?, ?, ?)",
                       (seq, t_start_ms, t_end_ms, _now_ms(), samples - shed, payload))
            self._size += len(payload)
            meta = [("next_seq", str(seq + 1)), ("last_t_end_ms", str(t_end_ms)),
                    ("checkpoint", json.dumps(checkpoint))]
            if shed:
                meta.append(("shed_samples", str(self.shed_samples + shed)))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            return seq

        seq: int = self._transaction(work)
        if self._size > self.max_bytes:
            self._shed()
        return seq

    def size_bytes(self) -> int:
        return self._size

    def _shed(self) -> None:
        def work(db: sqlite3.Connection) -> None:
            size = self._size
            shed_samples = shed_batches = 0
            # 1. raw samples, oldest first (of an acknowledged batch too: the broker may
            #    have lost it, so they count as shed: an upper bound of what is lost)
            for seq, samples, payload in db.execute(
                    "SELECT seq, samples, payload FROM batches WHERE samples > 0 "
                    "ORDER BY seq").fetchall():
                if size <= self.max_bytes:
                    break
                slim = _without_samples(payload)
                db.execute("UPDATE batches SET payload = ?, samples = 0 WHERE seq = ?",
                           (slim, seq))
                size -= len(payload) - len(slim)
                shed_samples += samples
            # 2. acknowledged batches kept only for republishing; 3. whole batches
            for condition, counts in (("acked_ms IS NOT NULL", False), ("acked_ms IS NULL", True)):
                for seq, length in db.execute(
                        f"SELECT seq, length(payload) FROM batches WHERE {condition} "
                        "ORDER BY seq").fetchall():
                    if size <= self.max_bytes:
                        break
                    db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
                    size -= int(length)
                    shed_batches += int(counts)
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                ("shed_samples", str(self.shed_samples + shed_samples)),
                ("shed_batches", str(self.shed_batches + shed_batches))])
            self._size = size

        self._transaction(work)

    def strip_samples(self, seq: int) -> bytes | None:
        """Rewrite batch `seq` without its raw samples (counted as shed), e.g. because
        it is larger than the broker takes. Returns the new payload (None: no such
        batch)."""

        def work(db: sqlite3.Connection) -> bytes | None:
            row = db.execute("SELECT samples, payload FROM batches WHERE seq = ?",
                             (seq,)).fetchone()
            if row is None:
                return None
            samples, payload = int(row[0]), bytes(row[1])
            if not samples:
                return payload
            slim = _without_samples(payload)
            db.execute("UPDATE batches SET payload = ?, samples = 0 WHERE seq = ?", (slim, seq))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('shed_samples', ?)",
                       (str(self.shed_samples + samples),))
            self._size -= len(payload) - len(slim)
            return slim

        result: bytes | None = self._transaction(work)
        return result

    # --- reading and acknowledging -------------------------------------------------

    def next_window(self, limit: int, *, live_after_ms: int,
                    backlog_share: float = 0.5) -> list[QueuedBatch]:
        """Unacknowledged batches to publish next. Live batches (closed after
        `live_after_ms`) go first; the backlog (oldest first) gets at least
        `backlog_share` of the window while there is live data, all of it otherwise,
        so draining a backlog never starves live data and vice versa."""
        columns = "seq, t_start_ms, t_end_ms, closed_ms, payload"
        live = self._db.execute(
            f"SELECT {columns} FROM batches WHERE acked_ms IS NULL AND closed_ms > ? "
            "ORDER BY seq LIMIT ?", (live_after_ms, limit)).fetchall()
        backlog = self._db.execute(
            f"SELECT {columns} FROM batches WHERE acked_ms IS NULL AND closed_ms <= ? "
            "ORDER BY seq LIMIT ?", (live_after_ms, limit)).fetchall()
        n_backlog = min(len(backlog), max(int(limit * backlog_share), limit - len(live)))
        n_live = min(len(live), limit - n_backlog)
        return [QueuedBatch(*row) for row in live[:n_live] + backlog[:n_backlog]]

    def acknowledge(self, seqs: Iterable[int]) -> None:
        """The broker has these (PUBACK); keep them a while for republishing."""
        now = _now_ms()

        def work(db: sqlite3.Connection) -> None:
            db.executemany("UPDATE batches SET acked_ms = ? WHERE seq = ?",
                           [(now, s) for s in seqs])
            cutoff = now - self.keep_acked_ms
            forgotten = db.execute("SELECT coalesce(sum(length(payload)), 0) FROM batches "
                                   "WHERE acked_ms < ?", (cutoff,)).fetchone()[0]
            db.execute("DELETE FROM batches WHERE acked_ms < ?", (cutoff,))
            self._size -= int(forgotten)

        self._transaction(work)

    def requeue_recent(self) -> int:
        """After a reconnect: publish again what the broker acknowledged recently (it
        may have lost it). Returns how many batches were requeued."""
        cutoff = _now_ms() - self.keep_acked_ms
        return int(self._transaction(lambda db: db.execute(
            "UPDATE batches SET acked_ms = NULL WHERE acked_ms >= ?", (cutoff,)).rowcount))

    def __len__(self) -> int:
        """Batches not yet acknowledged by the broker."""
        return int(self._db.execute(
            "SELECT count(*) FROM batches WHERE acked_ms IS NULL").fetchone()[0])

    def oldest_closed_ms(self) -> int | None:
        row = self._db.execute(
            "SELECT min(closed_ms) FROM batches WHERE acked_ms IS NULL").fetchone()
        return None if row[0] is None else int(row[0])
