"""Real Mosquitto, InfluxDB 1.x and VictoriaMetrics processes on free loopback ports.

Used by `plantstream demo`, the benchmarks and the test fixtures: each service gets
its own data directory, is started as a child process, and is stopped by its PID
(never by name). Fault tests use `kill`, `freeze` / `thaw` and `restart`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from plantstream.errors import ServiceError

__all__ = ["STOP_SIGNALS", "InfluxD", "LocalService", "Mosquitto", "StopRequest", "Stopped",
           "VictoriaMetrics", "deferred_stop", "free_port", "stack", "stop_on_signals"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, SIGINT or SIGHUP under `stop_on_signals`,
    outside an event loop: every `with` block unwinds, and each service (in its own
    session, so a terminal's signals never reach it) is stopped by the code that
    started it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class StopRequest:
    signum: int | None = None  # the stop signal received, if any


@dataclass
class _Deferral:
    depth: int = 0
    pending: int | None = None


_DEFERRAL = _Deferral()


def _stop(signum: int) -> None:
    """Act on a stop signal: raise `Stopped` in plain code; in a running event loop,
    cancel its tasks (raising could land anywhere in the loop's machinery), as
    asyncio.run does for Ctrl-C: asyncio.run then raises CancelledError."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise Stopped(signum) from None
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.call_soon_threadsafe(lambda: None)  # wake the loop from its select()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Stop on SIGTERM, SIGINT or SIGHUP (main thread only): `Stopped` in plain code,
    cancelled tasks in a running event loop (then the caller tells a stop from a
    CancelledError by `request.signum`). After the first signal the others are
    ignored, so the clean-up it starts runs to its end."""
    request = StopRequest()

    def handler(signum: int, _frame: object) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        request.signum = signum
        if _DEFERRAL.depth:
            _DEFERRAL.pending = signum
            return
        _stop(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, action in previous.items():
            signal.signal(sig, action)


@contextlib.contextmanager
def deferred_stop() -> Iterator[None]:
    """A stop signal inside this block takes effect at its end: around starting a
    child process, whose PID must be kept to stop it (a signal inside Popen would lose
    the handle of a child that runs)."""
    _DEFERRAL.depth += 1
    try:
        yield
    finally:
        _DEFERRAL.depth -= 1
    if not _DEFERRAL.depth and _DEFERRAL.pending is not None:
        signum, _DEFERRAL.pending = _DEFERRAL.pending, None
        _stop(signum)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _binary(name: str, *candidates: str) -> str:
    for candidate in (name, *candidates):
        found = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        if found:
            return found
    raise ServiceError(service=name, reason=f"`{name}` is not installed (run `make setup`)")


class LocalService:
    """A child process with a data directory, a port and a readiness probe."""

    name = "service"

    def __init__(self, *, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        # a service started again on the same data directory takes the port it had, when
        # that is free, so configuration files written against it stay true (the demo's
        # report configuration, then `plantstream stack` to pull the report)
        self.port = port or self._remembered_port() or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def _remembered_port(self) -> int | None:
        try:
            port = int((self.data_dir / "port").read_text())
        except (OSError, ValueError):
            return None
        return port if 1024 <= port <= 65535 and _port_is_free(port) else None

    # Subclasses say how to start and how to tell it is ready.
    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self, *, timeout_s: float = 30.0) -> None:
        if self.ready():  # someone else answers there: never mistake it for ours
            raise ServiceError(service=self.name, reason=f"port {self.port} is already in use")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "port").write_text(f"{self.port}\n")
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        try:
            with deferred_stop():
                self.process = subprocess.Popen(
                    self.command(), stdout=self._log_file, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True)
            self._wait_ready(self.process, timeout_s)
        except BaseException:  # not ready, or stopped (a signal) while waiting
            self.stop()
            raise

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(service=self.name, reason=f"exited with "
                                   f"{process.returncode}; log: {self.log_tail()}")
            if self.ready():
                log.debug("%s ready on port %d (pid %d)", self.name, self.port, process.pid)
                return
            time.sleep(0.05)
        raise ServiceError(service=self.name, reason=f"not ready after {timeout_s:.0f} s")

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """SIGTERM (the service saves its state), then SIGKILL after the timeout."""
        try:
            if self.process and self.process.poll() is None:
                self.process.send_signal(signal.SIGCONT)  # a frozen process cannot exit
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                except BaseException:  # interrupted (a signal): never leave it running
                    self.process.kill()
                    self.process.wait()
                    raise
        finally:
            self.process = None
            if self._log_file:
                self._log_file.close()
                self._log_file = None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing saved."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> LocalService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Mosquitto(LocalService):
    """Mosquitto 2 with persistence, so queued QoS 1 messages survive a restart."""

    name = "mosquitto"

    def __init__(self, *, data_dir: Path, port: int | None = None,
                 extra_config: str = "") -> None:
        super().__init__(data_dir=data_dir, port=port)
        self.extra_config = extra_config

    @property
    def url(self) -> str:
        return f"mqtt://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        conf = self.data_dir / "mosquitto.conf"
        persistence = self.data_dir / "persistence"
        persistence.mkdir(exist_ok=True)
        listener = ("" if "listener" in self.extra_config
                    else f"listener {self.port} {LOOPBACK}\nallow_anonymous true\n")
        # Started by root, mosquitto switches to the `mosquitto` user, which cannot write
        # a private (0700) data directory: persistence would fail on every save.
        sets_user = any(line.startswith("user ") for line in self.extra_config.splitlines())
        user = "user root\n" if os.geteuid() == 0 and not sets_user else ""
        conf.write_text(
            listener + user
            + f"persistence true\npersistence_location {persistence}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n"
            "max_packet_size 16777216\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            + self.extra_config)
        return [_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)]


class InfluxD(LocalService):
    """InfluxDB 1.x (`influxd`), HTTP API on a free port, RPC on another."""

    name = "influxd"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        conf = self.data_dir / "influxdb.conf"
        rpc_port = free_port()
        d = self.data_dir
        conf.write_text(f"""
reporting-disabled = true
bind-address = "{LOOPBACK}:{rpc_port}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  cache-max-memory-size = "1g"
  max-series-per-database = 0
  max-values-per-tag = 0
[coordinator]
  max-select-point = 0
[monitor]
  store-enabled = false
[http]
  bind-address = "{LOOPBACK}:{self.port}"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
""")
        return [_binary("influxd"), "-config", str(conf)]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as r:
                return bool(r.status == 204)
        except OSError:
            return False


class VictoriaMetrics(LocalService):
    """VictoriaMetrics single node: a real server that speaks InfluxDB `/api/v2/write`."""

    name = "victoria-metrics"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        return [_binary("victoria-metrics"), f"-httpListenAddr={LOOPBACK}:{self.port}",
                f"-storageDataPath={self.data_dir / 'data'}", "-loggerLevel=WARN",
                "-search.latencyOffset=0s", "-retentionPeriod=100y"]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as r:
                return bool(r.status == 200)
        except OSError:
            return False


@contextlib.contextmanager
def stack(state_dir: Path) -> Iterator[tuple[Mosquitto, InfluxD]]:
    """Mosquitto and InfluxDB together under one state directory."""
    broker = Mosquitto(data_dir=state_dir / "mosquitto")
    influx = InfluxD(data_dir=state_dir / "influxdb")
    try:  # stop() is safe on a service that never started
        broker.start()
        influx.start()
        yield broker, influx
    finally:
        try:
            influx.stop()
        finally:
            broker.stop()
