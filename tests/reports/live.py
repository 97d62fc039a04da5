"""A real uvicorn server for the pull API, on a free loopback port, in a thread."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn

from plantstream.devstack.services import free_port
from plantstream.reports import load_report_config
from plantstream.reports.server import create_app
from plantstream.store.influxql import InfluxQL


@contextlib.contextmanager
def live_server(config_path: Path) -> Iterator[str]:
    loaded = load_report_config(config_path)
    settings = loaded.config.influx
    with InfluxQL(url=settings.url, database=settings.database) as client:
        app = create_app(loaded=loaded, client=client)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, name="reports-api", daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the reports API did not start")
            time.sleep(0.02)
        assert httpx.get(f"{base}/healthz").status_code == 200
        try:
            yield base
        finally:
            server.should_exit = True
            thread.join(timeout=10)
