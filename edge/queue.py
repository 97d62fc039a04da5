"""The durable store-and-forward queue of an edge agent (SQLite in WAL mode).

Why SQLite: one file, atomic transactions that survive SIGKILL and power loss
(WAL + synchronous=FULL: a committed batch is on disk), no server on a small gateway,
and the sequence number, the batch and the batcher checkpoint commit together, so no
interval is lost or closed twice. The next seq is also kept in a high-water mark file
beside the queue (`plantstream.edge.statedir`): a seq is never reused, even when the
queue loses its WAL or is rebuilt after damage.

Lifecycle of a batch: closed -> queued (unacknowledged) -> acknowledged by the broker
(PUBACK) -> forgotten `keep_acked_s` later. Acknowledged batches are kept a while
because a broker that crashes (SIGKILL, power loss) can lose what it acknowledged
since its last persistence save; after every reconnect the uplink republishes what
was acknowledged within that window. Ingest writes are idempotent, so the duplicates
cost bandwidth, never correctness.

Bound: what the queue occupies on disk (its database pages, estimated from the
payloads, the WAL and the shared-memory file; temporary tables stay in memory) is
kept under `max_bytes` and under what the filesystem has free less `reserve_bytes`;
the WAL is checkpointed every
16 pages (and after shedding) and truncated to 256 KiB, so it never grows with the
backlog. Overflow policy
(counted in `shed_samples`, `shed_batches`):
1. shed raw samples first: the oldest batches are rewritten without their samples
   (state, counters and energy stay); every stripped sample counts as shed (an upper
   bound: an acknowledged batch's samples may have been delivered already);
2. then forget acknowledged batches kept for republishing, oldest first;
3. only when nothing else is left, shed the oldest whole unacknowledged batches.

Storage errors never escape (full disk, I/O error, a locked or damaged database):
the operation fails softly, `storage` / `storage_error` say so, each condition is
logged once with the path and the free space. An interval that cannot be stored is
counted (`shed_intervals`, its samples in `shed_samples`); an acknowledgement that
cannot be written is kept in memory (the batch is not published again) and written
with the next successful transaction. A damaged queue (found by `PRAGMA quick_check`
at start, or by an error while running) is salvaged batch by batch into a fresh file;
the damaged files are moved aside with a timestamp (the newest `keep_damaged` sets are
kept) and an error names them with the counts recovered and lost.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import msgspec

from plantstream.edge.statedir import SeqHighWater, StateDirError
from plantstream.wire import Batch, encode

__all__ = ["DiskQueue", "QueuedBatch", "StorageState"]

log = logging.getLogger(__name__)

StorageState = Literal["ok", "low", "error"]
T = TypeVar("T")

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
_COLUMNS = "seq, t_start_ms, t_end_ms, closed_ms, acked_ms, samples, payload"
_COUNTERS: Final = ("shed_samples", "shed_batches", "shed_intervals")
_META_KEYS: Final = ("next_seq", "last_t_end_ms", "checkpoint", *_COUNTERS)
WAL_CHECKPOINT_PAGES: Final = 16
WAL_SIZE_LIMIT: Final = 256 * 1024
# database bytes per payload byte (pages, row headers, the index), measured on batches
# of 400-700 bytes: 1.15-1.18
PAGE_OVERHEAD: Final = 1.15
SALVAGE_PROBE_MAX: Final = 200_000  # seqs probed one by one in a damaged file, at most

# SQLite primary result codes
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM = 8, 14, 3
_CONDITIONS: Final = {13: "disk_full", 10: "io_error", 5: "locked", 6: "locked",
                      11: "damaged", 26: "damaged", 8: "read_only"}
_ERRNO_CONDITIONS: Final = {errno.ENOSPC: "disk_full", errno.EIO: "io_error",
                            errno.EROFS: "read_only", errno.EDQUOT: "disk_full"}

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


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _is_damage(exc: BaseException) -> bool:
    return _code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in str(exc)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class DiskQueue:
    def __init__(self, *, path: Path, max_bytes: int = 512 * 1024**2,
                 keep_acked_s: float = 60.0, reserve_bytes: int = 0,
                 high_water: SeqHighWater | None = None, keep_damaged: int = 3) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.reserve_bytes = reserve_bytes
        self.keep_acked_ms = int(keep_acked_s * 1000)
        self.keep_damaged = keep_damaged
        self.high_water = high_water
        self.storage: StorageState = "ok"
        self.storage_error: str | None = None
        self._logged: set[str] = set()  # conditions logged since storage was last ok
        self._unsaved = dict.fromkeys(_COUNTERS, 0)  # counted while writes failed
        self._acked_unsaved: dict[int, int] = {}  # seq -> acked_ms, not yet written
        self._meta_cache: dict[str, str] = {}
        self._db = self._open()
        self._load()

    # --- opening, checking, recovering ---------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                             timeout=5.0)
        try:
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
                raise sqlite3.OperationalError("cannot use WAL mode")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA temp_store=MEMORY")  # no temporary files on disk
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            db.executescript(_SCHEMA)
            result = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
            if result != ["ok"]:
                raise sqlite3.DatabaseError("quick_check: " + "; ".join(result[:3]))
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc) or "quick_check" in str(exc):
                return self._recover(str(exc))
            raise StateDirError(path=self.path.parent,
                                reason=f"queue {self.path.name}: {exc}") from None

    def _salvage(self) -> tuple[dict[int, tuple[Any, ...]], dict[str, str], int]:
        """Every readable batch and meta value of the damaged file, and the highest
        seq it claims (or the high-water mark). Read from a copy whose header is
        made to agree with the file's length (a truncated file is otherwise unreadable
        as a whole); from the file itself if there is no room for the copy."""
        copy = self.path.with_name(self.path.name + ".salvage")
        copies = [copy] + [Path(f"{copy}{suffix}") for suffix in ("-wal", "-shm")]
        try:
            shutil.copyfile(self.path, copy)
            if Path(f"{self.path}-wal").exists():  # committed batches may be only there
                shutil.copyfile(f"{self.path}-wal", f"{copy}-wal")
            with open(copy, "r+b") as f:
                header = f.read(100)
                if len(header) == 100:
                    (page_size,) = struct.unpack(">H", header[16:18])
                    page_size = 65536 if page_size == 1 else page_size
                    pages = copy.stat().st_size // max(page_size, 512)
                    (claimed,) = struct.unpack(">I", header[28:32])
                    if 0 < pages < claimed:
                        f.seek(28)
                        f.write(struct.pack(">I", pages))
            source = copy
        except OSError:
            for path in copies:
                path.unlink(missing_ok=True)
            source = self.path
        try:
            return self._salvage_from(source)
        finally:
            for path in copies:
                path.unlink(missing_ok=True)

    def _salvage_from(self, source: Path) -> tuple[dict[int, tuple[Any, ...]], dict[str, str],
                                                   int]:
        rows: dict[int, tuple[Any, ...]] = {}
        meta: dict[str, str] = {}
        try:
            db = sqlite3.connect(source, isolation_level=None, timeout=5.0)
        except sqlite3.Error:
            return rows, meta, self.high_water.value if self.high_water else 0
        try:
            db.execute("PRAGMA query_only=1")
            for key in _META_KEYS:
                try:
                    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                except sqlite3.Error:
                    continue
                if row is not None:
                    meta[key] = str(row[0])
            try:
                for row in db.execute(f"SELECT {_COLUMNS} FROM batches ORDER BY seq"):
                    rows[int(row[0])] = tuple(row)
            except sqlite3.Error:
                pass  # part of the table is unreadable: probe the rest one by one
            try:
                claimed = int(meta.get("next_seq", "0"))
            except ValueError:
                claimed = 0
            hi = max(claimed, self.high_water.value if self.high_water else 0,
                     max(rows, default=-1) + 1)
            for seq in range(max(0, hi - SALVAGE_PROBE_MAX), hi):
                if seq in rows:
                    continue
                try:
                    row = db.execute(f"SELECT {_COLUMNS} FROM batches WHERE seq = ?",
                                     (seq,)).fetchone()
                except sqlite3.Error:
                    continue
                if row is not None:
                    rows[seq] = tuple(row)
        finally:
            db.close()
        valid: dict[int, tuple[Any, ...]] = {}
        for seq, row in rows.items():
            try:
                batch = _DECODER.decode(bytes(row[6]))
            except (msgspec.DecodeError, TypeError, ValueError):
                continue
            if batch.seq == seq:
                valid[seq] = row
        return valid, meta, hi

    def _recover(self, reason: str) -> sqlite3.Connection:
        """Salvage a damaged queue into a fresh file; move the damaged files aside."""
        rows, meta, hi = self._salvage()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        if any(self.path.parent.glob(f"{self.path.name}.damaged-{stamp}*")):
            time.sleep(1.0)  # damaged twice within a second: never overwrite the first set
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved: list[str] = []
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                target = self.path.with_name(f"{self.path.name}.damaged-{stamp}{suffix}")
                try:
                    os.replace(source, target)
                except OSError as exc:
                    raise StateDirError(path=self.path.parent, reason=(
                        f"queue {self.path.name} is damaged ({reason}) and cannot be moved "
                        f"aside: {exc.strerror or exc}")) from None
                moved.append(target.name)
        self._prune_damaged()
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(f"INSERT INTO batches ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       sorted(rows.values()))
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
            (k, v) for k, v in meta.items() if k != "next_seq"] + [("next_seq", str(hi))])
        db.execute("COMMIT")
        lowest = min(rows, default=hi)
        unreadable = hi - lowest - len(rows)
        log.error("disk queue %s was damaged (%s): moved aside as %s; %d batches recovered "
                  "(seqs %d..%d), %d seqs in that range unreadable (lost or already "
                  "delivered); new batches continue at seq %d", self.path, reason,
                  ", ".join(moved) or "(nothing)", len(rows), lowest, hi - 1, unreadable, hi)
        return db

    def _prune_damaged(self) -> None:
        damaged = sorted(self.path.parent.glob(f"{self.path.name}.damaged-*"))
        stamps = sorted({p.name.split(".damaged-", 1)[1][:16] for p in damaged})
        for old in stamps[:-self.keep_damaged] if self.keep_damaged else stamps:
            for p in damaged:
                if p.name.split(".damaged-", 1)[1].startswith(old):
                    p.unlink(missing_ok=True)

    def _load(self) -> None:
        rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        self._meta_cache = {str(k): str(v) for k, v in rows}
        self._size = int(self._db.execute(
            "SELECT coalesce(sum(length(payload)), 0) FROM batches").fetchone()[0])
        stored = int(self._meta_cache.get("next_seq", "0"))
        high = self.high_water.value if self.high_water else 0
        if high > stored:
            log.error("disk queue %s: seqs %d..%d were given to batches that are not in the "
                      "queue (its WAL or the file was lost); they are never reused",
                      self.path, stored, high - 1)
        self._next_seq = max(stored, high)
        if self.high_water:
            self.high_water.advance(self._next_seq)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    # --- storage conditions -------------------------------------------------------

    def free_bytes(self) -> int:
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return 0
        return st.f_bavail * st.f_frsize

    def _failed(self, operation: str, exc: BaseException) -> None:
        condition = _CONDITIONS.get(_code(exc) or -1, "error")
        if isinstance(exc, OSError):
            condition = _ERRNO_CONDITIONS.get(exc.errno or -1, "error")
        if _is_damage(exc):
            condition = "damaged"
        self.storage = "error"
        free_mib = self.free_bytes() / 1024**2
        self.storage_error = f"{condition} during {operation}: {exc} ({free_mib:.1f} MiB free)"
        if condition not in self._logged:
            self._logged.add(condition)
            log.error("disk queue %s: %s during %s: %s (%.1f MiB free on its filesystem); "
                      "the agent keeps running and counts what it cannot keep",
                      self.path, condition, operation, exc, free_mib)
        if condition == "damaged":
            try:
                self._db.close()
                self._db = self._recover(str(exc))
                self._load()
            except (sqlite3.Error, OSError, StateDirError) as again:
                log.error("disk queue %s: recovery failed: %s", self.path, again)

    def _succeeded(self) -> None:
        if self.storage == "error":
            if "disk_full" in self._logged and self.free_bytes() <= self.reserve_bytes:
                # a small write fitted in the full file's free pages: the disk is still
                # full, and saying "works again" would flap the state and the log
                return
            log.warning("disk queue %s: storage works again (%.1f MiB free)", self.path,
                        self.free_bytes() / 1024**2)
            self._logged.clear()
        self.storage = "ok"
        self.storage_error = None

    def _transaction(self, operation: str, work: Callable[[sqlite3.Connection], T]
                     ) -> tuple[bool, T | None]:
        """Run `work` in a write transaction with what earlier failures left unsaved.
        Returns (committed, result); storage errors are recorded, never raised."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._write_unsaved(db)
                result = work(db)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already (disk full)
                    db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            self._failed(operation, exc)
            return False, None
        for key, added in self._unsaved.items():  # written by `_write_unsaved`
            if added:
                self._meta_cache[key] = str(self._stored_counter(key) + added)
        self._unsaved = dict.fromkeys(_COUNTERS, 0)
        self._acked_unsaved.clear()
        self._succeeded()
        return True, result

    def _write_unsaved(self, db: sqlite3.Connection) -> None:
        if self._acked_unsaved:
            db.executemany("UPDATE batches SET acked_ms = ? WHERE seq = ?",
                           [(ms, seq) for seq, ms in self._acked_unsaved.items()])
        counters = [(k, str(self._stored_counter(k) + n)) for k, n in self._unsaved.items()
                    if n]
        if counters:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", counters)

    def _read(self, operation: str, work: Callable[[sqlite3.Connection], T], default: T) -> T:
        try:
            return work(self._db)
        except (sqlite3.Error, OSError) as exc:
            self._failed(operation, exc)
            return default

    # --- metadata -----------------------------------------------------------------

    def _stored_counter(self, key: str) -> int:
        return int(self._meta_cache.get(key, "0"))

    def _set_meta(self, db: sqlite3.Connection, values: dict[str, str]) -> None:
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def last_t_end_ms(self) -> int | None:
        value = self._meta_cache.get("last_t_end_ms")
        return None if value is None else int(value)

    def _counter(self, key: str) -> int:
        return self._stored_counter(key) + self._unsaved[key]

    @property
    def shed_samples(self) -> int:
        return self._counter("shed_samples")

    @property
    def shed_batches(self) -> int:
        """Queued batches shed whole (their seqs never arrive)."""
        return self._counter("shed_batches")

    @property
    def shed_intervals(self) -> int:
        """Closed intervals that could not be stored at all (they never got a seq)."""
        return self._counter("shed_intervals")

    def checkpoint(self) -> dict[str, Any] | None:
        value = self._meta_cache.get("checkpoint")
        return None if value is None else dict(json.loads(value))

    # --- writing ------------------------------------------------------------------

    def _counters_after(self, **added: int) -> dict[str, str]:
        """Stored counters plus the unsaved and `added` increments, as meta values."""
        return {k: str(self._counter(k) + added.get(k, 0)) for k in _COUNTERS
                if self._unsaved[k] or added.get(k)}

    def enqueue(self, *, t_start_ms: int, t_end_ms: int, encode: Callable[[int], bytes],
                checkpoint: dict[str, Any], samples: int = 0,
                shed_samples: Callable[[], int] | None = None) -> int | None:
        """Assign the next sequence number, store the batch `encode(seq)` and the
        checkpoint, all in one transaction; then enforce the bound. Returns the seq,
        or None if the interval could not be stored (counted in `shed_intervals`).
        `shed_samples()`, called after `encode`, says how many of the interval's
        `samples` the encoding left out (counted as shed)."""
        seq = self._next_seq
        payload = encode(seq)
        shed = shed_samples() if shed_samples is not None else 0
        meta = {"next_seq": str(seq + 1), "last_t_end_ms": str(t_end_ms),
                "checkpoint": json.dumps(checkpoint)}
        meta.update(self._counters_after(shed_samples=shed))

        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO batches (seq, t_start_ms, t_end_ms, closed_ms, samples, "
                       "payload) VALUES (?, ?, ?, ?, ?, ?)",
                       (seq, t_start_ms, t_end_ms, _now_ms(), samples - shed, payload))
            self._set_meta(db, meta)

        committed, _ = self._transaction("enqueue", work)
        if not committed:
            self._unsaved["shed_intervals"] += 1
            self._unsaved["shed_samples"] += samples
            # the condition itself was logged once at error level by `_failed`
            log.info("disk queue %s: interval [%d, %d) with %d samples not stored "
                     "(counted as shed): %s", self.path, t_start_ms, t_end_ms, samples,
                     self.storage_error)
            self._make_room(len(payload))  # so that the next interval fits
            return None
        self._meta_cache.update(meta)
        self._size += len(payload)
        self._next_seq = seq + 1
        self.enforce_bound()
        return seq

    def flush_high_water(self) -> None:
        """Write (fsync) the next seq to the high-water mark file: called after each
        round of enqueues (one fsync per round, not per batch)."""
        if self.high_water is not None and not self.high_water.advance(self._next_seq):
            self._failed("high-water mark", self.high_water.error or OSError("write failed"))

    def size_bytes(self) -> int:
        """Payload bytes of the stored batches."""
        return self._size

    def disk_bytes(self) -> int:
        """What the queue occupies on disk: its database pages (the payloads plus
        SQLite's page and row overhead), the WAL and the shared-memory file. Pages are
        estimated from the payloads: a page that lost only part of its rows (samples
        stripped) is not given back by SQLite, but new rows reuse freed pages."""
        files = (_file_size(Path(f"{self.path}-wal"))
                 + _file_size(Path(f"{self.path}-shm")))
        return int(self._size * PAGE_OVERHEAD) + files

    def _reusable_bytes(self) -> int:
        """Free pages inside the database file, which new batches reuse."""
        return int(self._read("size", lambda db: int(
            db.execute("PRAGMA freelist_count").fetchone()[0])
            * int(db.execute("PRAGMA page_size").fetchone()[0]), 0))

    def _excess(self) -> tuple[int, int]:
        """(bytes over the bound, free bytes of the filesystem)."""
        used, free = self.disk_bytes(), self.free_bytes()
        available = used + free + self._reusable_bytes() - self.reserve_bytes
        return used - min(self.max_bytes, available), free

    def enforce_bound(self) -> None:
        """Shed (by the overflow policy) what exceeds `max_bytes` or the free space
        of the filesystem (and inside the database file) less the reserve; `storage`
        is `low` while the filesystem has less free than the reserve."""
        excess, free = self._excess()
        if free < self.reserve_bytes and self.storage != "error":
            if "low" not in self._logged:
                self._logged.add("low")
                log.warning("disk queue %s: %.1f MiB free, below the %.1f MiB reserve; "
                            "shedding the oldest data", self.path, free / 1024**2,
                            self.reserve_bytes / 1024**2)
            self.storage = "low"
        elif free >= 1.5 * self.reserve_bytes:  # hysteresis: no flapping at the reserve
            if self.storage == "low":
                self.storage = "ok"
            if "low" in self._logged:
                self._logged.discard("low")
                log.warning("disk queue %s: %.1f MiB free again", self.path, free / 1024**2)
        if excess <= 0:
            return
        self._checkpoint()  # first give back what the WAL holds beyond the data
        excess, _ = self._excess()
        if excess > 0:
            self._shed(self._size - int(excess / PAGE_OVERHEAD) - 1)
            self._checkpoint()  # the shedding itself went through the WAL

    def _checkpoint(self) -> None:
        self._read("checkpoint", lambda db: db.execute("PRAGMA wal_checkpoint(TRUNCATE)"
                                                       ).fetchall(), [])

    def _make_room(self, needed: int) -> None:
        """After a failed write: shed enough for `needed` more bytes (and a margin)."""
        self._shed(self._size - 2 * needed - 64 * 1024)

    def _shed(self, target: int) -> None:
        """Shed by the overflow policy until the payloads total at most `target`."""
        def work(db: sqlite3.Connection) -> tuple[int, int, int]:
            size = self._size
            shed_samples = shed_batches = 0
            # 1. raw samples, oldest first (of an acknowledged batch too: the broker may
            #    have lost it, so they count as shed: an upper bound of what is lost)
            for seq, samples, payload in db.execute(
                    "SELECT seq, samples, payload FROM batches WHERE samples > 0 "
                    "ORDER BY seq").fetchall():
                if size <= target:
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
                    if size <= target:
                        break
                    if counts and seq in self._acked_unsaved:
                        counts = False
                    db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
                    size -= int(length)
                    shed_batches += int(counts)
            self._set_meta(db, self._counters_after(shed_samples=shed_samples,
                                                    shed_batches=shed_batches))
            return size, shed_samples, shed_batches

        committed, result = self._transaction("shed", work)
        if committed and result is not None:
            size, shed_samples, shed_batches = result
            self._meta_cache.update({
                "shed_samples": str(self._stored_counter("shed_samples") + shed_samples),
                "shed_batches": str(self._stored_counter("shed_batches") + shed_batches)})
            self._size = size

    def strip_samples(self, seq: int) -> bytes | None:
        """Rewrite batch `seq` without its raw samples (counted as shed), e.g. because
        it is larger than the broker takes. Returns the new payload (None: no such
        batch, or it could not be rewritten)."""

        def work(db: sqlite3.Connection) -> tuple[bytes, int, int] | None:
            row = db.execute("SELECT samples, payload FROM batches WHERE seq = ?",
                             (seq,)).fetchone()
            if row is None:
                return None
            samples, payload = int(row[0]), bytes(row[1])
            if not samples:
                return payload, 0, 0
            slim = _without_samples(payload)
            db.execute("UPDATE batches SET payload = ?, samples = 0 WHERE seq = ?", (slim, seq))
            self._set_meta(db, self._counters_after(shed_samples=samples))
            return slim, samples, len(payload) - len(slim)

        committed, result = self._transaction("strip samples", work)
        if not committed or result is None:
            return None
        slim, samples, saved = result
        if samples:
            self._meta_cache["shed_samples"] = str(self._stored_counter("shed_samples")
                                                   + samples)
            self._size -= saved
        return slim

    # --- reading and acknowledging -------------------------------------------------

    def next_window(self, limit: int, *, live_after_ms: int,
                    backlog_share: float = 0.5) -> list[QueuedBatch]:
        """Unacknowledged batches to publish next. Live batches (closed after
        `live_after_ms`) go first; the backlog (oldest first) gets at least
        `backlog_share` of the window while there is live data, all of it otherwise,
        so draining a backlog never starves live data and vice versa."""
        columns = "seq, t_start_ms, t_end_ms, closed_ms, payload"
        fetch = limit + len(self._acked_unsaved)

        def read(db: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            live = db.execute(
                f"SELECT {columns} FROM batches WHERE acked_ms IS NULL AND closed_ms > ? "
                "ORDER BY seq LIMIT ?", (live_after_ms, fetch)).fetchall()
            backlog = db.execute(
                f"SELECT {columns} FROM batches WHERE acked_ms IS NULL AND closed_ms <= ? "
                "ORDER BY seq LIMIT ?", (live_after_ms, fetch)).fetchall()
            return live, backlog

        empty: tuple[list[Any], list[Any]] = ([], [])
        live, backlog = self._read("read", read, empty)
        live = [r for r in live if r[0] not in self._acked_unsaved]
        backlog = [r for r in backlog if r[0] not in self._acked_unsaved]
        n_backlog = min(len(backlog), max(int(limit * backlog_share), limit - len(live)))
        n_live = min(len(live), limit - n_backlog)
        return [QueuedBatch(*row) for row in live[:n_live] + backlog[:n_backlog]]

    def acknowledge(self, seqs: Iterable[int]) -> None:
        """The broker has these (PUBACK); keep them a while for republishing. If that
        cannot be written now, it is kept in memory (never published again) and
        written with the next successful transaction."""
        now = _now_ms()
        acked = list(seqs)

        def work(db: sqlite3.Connection) -> int:
            db.executemany("UPDATE batches SET acked_ms = ? WHERE seq = ?",
                           [(now, s) for s in acked])
            cutoff = now - self.keep_acked_ms
            forgotten = int(db.execute("SELECT coalesce(sum(length(payload)), 0) FROM "
                                       "batches WHERE acked_ms < ?", (cutoff,)).fetchone()[0])
            db.execute("DELETE FROM batches WHERE acked_ms < ?", (cutoff,))
            return forgotten

        committed, forgotten = self._transaction("acknowledge", work)
        if committed:
            self._size -= int(forgotten or 0)
        else:
            self._acked_unsaved.update(dict.fromkeys(acked, now))

    def requeue_recent(self) -> int:
        """After a reconnect: publish again what the broker acknowledged recently (it
        may have lost it). Returns how many batches were requeued."""
        cutoff = _now_ms() - self.keep_acked_ms
        committed, count = self._transaction("requeue", lambda db: int(db.execute(
            "UPDATE batches SET acked_ms = NULL WHERE acked_ms >= ?", (cutoff,)).rowcount))
        return int(count or 0) if committed else 0

    def __len__(self) -> int:
        """Batches not yet acknowledged by the broker."""
        stored = self._read("count", lambda db: int(db.execute(
            "SELECT count(*) FROM batches WHERE acked_ms IS NULL").fetchone()[0]), 0)
        return max(0, stored - len(self._acked_unsaved))

    def oldest_closed_ms(self) -> int | None:
        row = self._read("read", lambda db: db.execute(
            "SELECT min(closed_ms) FROM batches WHERE acked_ms IS NULL").fetchone(), None)
        return None if row is None or row[0] is None else int(row[0])
