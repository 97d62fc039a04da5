"""The gateway's state directory: exclusive lock, gateway epoch, sequence high-water mark.

    <state_dir>/agent.lock    flock'ed while an agent runs: one agent per directory
    <state_dir>/epoch         the gateway epoch: a random id made once per state
                              directory, carried in every batch (`Batch.epoch`)
    <state_dir>/seq.hwm       the next sequence number, written and fsync'd after every
                              commit of the disk queue

Why the two small files beside the SQLite queue: a seq is never given to two
intervals. If the queue loses its WAL (some storage loses it on a power cut) or is
found damaged and rebuilt, the queue's own counter goes back; the high-water mark does
not, so new intervals get new seqs. If the whole directory is lost (a new SD card),
the high-water mark goes too and seqs restart at 0, but under a new epoch: (epoch, seq)
is still never reused.

A directory that cannot be created, written or locked raises `StateDirError`: one
line naming the path and the reason, shown by the CLI without a traceback.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
from pathlib import Path

from plantstream.errors import PlantStreamError

__all__ = ["SeqHighWater", "StateDir", "StateDirError"]


class StateDirError(PlantStreamError):
    """The state directory cannot be used: `path` and `reason` say why."""

    def __init__(self, *, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"state directory {path}: {reason}")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def write_durably(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: temp file, fsync, rename, fsync of the directory."""
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class SeqHighWater:
    """The next seq, as a fixed-width number rewritten in place and fdatasync'd."""

    WIDTH = 20

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        raw = os.pread(self._fd, self.WIDTH + 1, 0)
        try:
            self.value = int(raw.decode("ascii").strip() or 0)
        except ValueError:  # a torn write: fall back to the queue's own counter
            self.value = 0
        self.error: OSError | None = None

    def advance(self, next_seq: int) -> bool:
        """Record that every seq below `next_seq` is taken. False if the write failed
        (the value is kept in memory and written with the next call)."""
        if next_seq <= self.value and self.error is None:
            return True
        self.value = max(self.value, next_seq)
        try:
            os.pwrite(self._fd, f"{self.value:0{self.WIDTH}d}\n".encode("ascii"), 0)
            os.fdatasync(self._fd)
        except OSError as exc:
            self.error = exc
            return False
        self.error = None
        return True

    def close(self) -> None:
        os.close(self._fd)


class StateDir:
    """Open (create, check, lock) a gateway's state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateDirError(path=path, reason=f"cannot be created: {_reason(exc)}"
                                ) from None
        if not path.is_dir():
            raise StateDirError(path=path, reason="is not a directory")
        lock_path = path / "agent.lock"
        try:
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateDirError(path=path, reason=f"cannot be written: {_reason(exc)}"
                                ) from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StateDirError(path=path, reason="is locked by another running agent"
                                    ) from None
            raise StateDirError(path=path, reason=f"cannot be locked: {_reason(exc)}"
                                ) from None
        try:
            probe = path / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
            self.epoch = self._epoch()
            self.high_water = SeqHighWater(path / "seq.hwm")
        except OSError as exc:
            self.release()
            raise StateDirError(path=path, reason=f"cannot be written: {_reason(exc)}"
                                ) from None

    def _epoch(self) -> str:
        path = self.path / "epoch"
        try:
            epoch = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            epoch = ""
        except (OSError, UnicodeDecodeError):
            epoch = ""
        if len(epoch) == 16 and all(c in "0123456789abcdef" for c in epoch):
            return epoch
        epoch = secrets.token_hex(8)
        write_durably(path, epoch.encode("ascii") + b"\n")
        return epoch

    def release(self) -> None:
        high_water = getattr(self, "high_water", None)
        if high_water is not None:
            high_water.close()
            self.high_water = None  # type: ignore[assignment]
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1
