"""`plantstream stack` and `plantstream demo` stop every process they started when the
parent alone gets SIGTERM, SIGINT or SIGHUP.

The CLI runs as a subprocess in a session of its own; the test reads the children's
PIDs from what it prints, waits until they are up, signals only the parent's PID and
then waits (bounded) until the parent has exited and each child is gone.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from plantstream.devstack.services import Mosquitto, Stopped, deferred_stop, stop_on_signals

PLANTSTREAM = str(Path(sys.executable).parent / "plantstream")
DEADLINE_S = 60.0  # upper bound of every wait; each ends as soon as its condition holds


def _start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), None when it is gone or a
    zombie: with the PID, it names one process even if the PID is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _processes_naming(folder: Path, *, but: int = 0) -> list[str]:
    """Command lines of running processes (but PID `but`) that mention `folder`: the
    services' and the ingest worker's configuration files are in it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == but or _start_time(int(proc.name)) is None:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(folder) in cmdline:
            found.append(cmdline)
    return found


@dataclass
class Cli:
    """`plantstream ARGS` in a session of its own, its output read line by line."""

    args: list[str]
    popen: subprocess.Popen[str] = field(init=False)
    lines: queue.Queue[str] = field(init=False, default_factory=queue.Queue)
    seen: list[str] = field(init=False, default_factory=list)
    children: dict[int, str] = field(init=False, default_factory=dict)  # pid -> start time
    reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.popen = subprocess.Popen([PLANTSTREAM, *self.args], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      text=True, start_new_session=True,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)

    def wait_for_line(self, pattern: str) -> re.Match[str]:
        """Every output line up to the first that matches; its PIDs are children."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.popen.poll() is None, f"exited early:\n{''.join(self.seen)}"
                continue
            self.seen.append(line)
            for pid in re.findall(r"\bpid (\d+)", line):
                start = _start_time(int(pid))
                assert start is not None, f"child {pid} is not running: {line}"
                self.children[int(pid)] = start
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}:\n{''.join(self.seen)}")

    def output(self) -> str:
        """Everything it printed (call after it exited)."""
        self.reader.join(timeout=DEADLINE_S)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)

    def alive(self) -> list[int]:
        return [pid for pid, start in self.children.items() if _start_time(pid) == start]

    def cleanup(self) -> None:
        """After a failure: stop what is left, by PID (only processes it started)."""
        for pid in self.alive():
            os.kill(pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.reader.join(timeout=DEADLINE_S)
        assert self.popen.stdout is not None
        self.popen.stdout.close()


@pytest.fixture
def cli() -> Iterator[list[Cli]]:
    started: list[Cli] = []
    yield started
    for one in started:
        one.cleanup()


def _signal_parent_and_wait(run: Cli, sig: signal.Signals) -> int:
    assert run.popen.poll() is None
    os.kill(run.popen.pid, sig)  # the parent alone
    try:
        code = run.popen.wait(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {DEADLINE_S:.0f} s after {sig.name}:\n"
                             f"{''.join(run.seen)}") from None
    deadline = time.monotonic() + DEADLINE_S
    while run.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.alive() == [], f"children left running after {sig.name}"
    return code


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_stack_stops_its_services_with_it(sig: signal.Signals, tmp_path: Path,
                                          cli: list[Cli]) -> None:
    run = Cli(["stack", "--state-dir", str(tmp_path)])
    cli.append(run)
    run.wait_for_line(r"^influxdb .*Ctrl-C to stop")
    assert len(run.children) == 2  # mosquitto and influxd, both running
    assert len(_processes_naming(tmp_path, but=run.popen.pid)) == 2  # the check below sees them
    assert _signal_parent_and_wait(run, sig) == 0
    assert _processes_naming(tmp_path) == []
    assert f"stopped by {sig.name}" in "".join(run.seen) + run.lines.get(timeout=5)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "when"), [
    (signal.SIGTERM, "streaming"), (signal.SIGINT, "streaming"), (signal.SIGHUP, "streaming"),
    (signal.SIGTERM, "starting")], ids=lambda v: getattr(v, "name", v))
def test_demo_stops_every_process_it_started(sig: signal.Signals, when: str, tmp_path: Path,
                                             cli: list[Cli]) -> None:
    run = Cli(["demo", "--duration", "60", "--machines", "3", "--state-dir", str(tmp_path)])
    cli.append(run)
    if when == "starting":  # influxd up, the ingest worker starting
        run.wait_for_line(r"^\s+influxd\s.*\(pid \d+\)")
        assert len(run.children) == 2
    else:
        run.wait_for_line(r"^\s+ingest\s+pid \d+")  # after mosquitto and influxd
        assert len(run.children) == 3
        run.wait_for_line(r"batches published [1-9]")  # the gateways stream (asyncio runs)
    code = _signal_parent_and_wait(run, sig)
    assert code == 128 + sig, run.output()
    # an ingest worker still starting had no PID printed: no process names the state dir
    assert _processes_naming(tmp_path) == [], run.output()


def test_a_signal_while_a_service_starts_stops_it(tmp_path: Path) -> None:
    """start() interrupted (here: by an exception from the readiness probe, as a signal
    handler would raise it) stops the process it had started."""
    class Interrupted(Mosquitto):
        def ready(self) -> bool:
            if self.process is not None:
                self.started_pid = self.process.pid
                raise KeyboardInterrupt
            return False

    service = Interrupted(data_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        service.start()
    assert service.process is None and _start_time(service.started_pid) is None



def test_a_stop_signal_waits_for_the_end_of_a_deferred_block() -> None:
    with stop_on_signals() as request, pytest.raises(Stopped) as stopped, deferred_stop():
        os.kill(os.getpid(), signal.SIGHUP)  # delivered before kill() returns
        assert request.signum == signal.SIGHUP  # received, not yet acted on
        reached_the_end = True
    assert reached_the_end and stopped.value.signum == signal.SIGHUP
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # handlers restored


def test_a_stop_signal_cancels_a_running_event_loop_instead_of_raising_in_it() -> None:
    async def main() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(DEADLINE_S)  # cancelled, long before

    with stop_on_signals() as request, pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert request.signum == signal.SIGTERM
