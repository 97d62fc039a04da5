"""systemd notifications reach a real datagram socket, as systemd would receive them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plantstream.sdnotify import notify

SAMPLE = Path(__file__).resolve().parents[2] / "edge" / "sources" / "simulator" / "sample.toml"


def test_notify_without_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_edge_run_reports_ready_and_feeds_the_watchdog(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(20)
        config = tmp_path / "edge.toml"
        config.write_text(f'[gateway]\nid = "g"\nsite = "s"\nstate_dir = "{tmp_path / "st"}"\n'
                          "[mqtt]\nport = 1\n" + SAMPLE.read_text())
        process = subprocess.Popen(
            [sys.executable, "-m", "plantstream.cli", "edge", "run", "--config", str(config),
             "--drain-timeout", "1"],
            env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000",
                 "PATH": "/usr/bin:/bin"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            received = [server.recv(64).decode()]
            deadline = time.monotonic() + 10
            while received.count("WATCHDOG=1") < 2 and time.monotonic() < deadline:
                received.append(server.recv(64).decode())
        finally:
            process.terminate()
            process.wait(timeout=60)  # closes the open 10 s interval, then gives up draining
        assert "READY=1" in received
        assert received.count("WATCHDOG=1") >= 2  # fed repeatedly from the event loop
