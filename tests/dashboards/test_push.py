"""`plantstream dashboards push`: dry-run output and error handling.

No Grafana server can run on these machines, so push is NOT tested against a real
Grafana here. The error paths are tested against a closed loopback port and against a
tiny local HTTP server started by the test that answers like Grafana's HTTP API does
for a refused token (401) or a token without the needed role (403): a test double of
Grafana's HTTP API, for the error paths only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from plantstream.cli import main
from plantstream.dashboards import DASHBOARDS, DashboardSettings, provisioning_files
from plantstream.dashboards.errors import (
    GrafanaAuthError,
    GrafanaPermissionError,
    GrafanaRequestError,
    GrafanaUnreachable,
)
from plantstream.dashboards.push import push
from plantstream.devstack.services import free_port

Answer = Callable[[str, str], tuple[int, dict[str, object]]]  # (method, path) -> reply


@pytest.fixture
def grafana_double() -> Iterator[Callable[[Answer], str]]:
    """Start a local HTTP server answering with `answer`; yields a function taking the
    answer and returning the server's URL. Records nothing but the status it is told."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, body = answer(self.command, self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _reply

            def log_message(self, *args: object) -> None:  # keep pytest's output clean
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


SETTINGS = DashboardSettings()


def test_dry_run_lists_every_object_and_sends_nothing(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: a request would fail
    assert main(["dashboards", "push", "--dry-run", "--url", closed]) == 0
    out = capsys.readouterr().out.splitlines()
    n = len(DASHBOARDS)
    kinds = [line.split()[4] for line in out[:2 + 2 * n + 1]]
    assert kinds == ["folder", "datasource", *["dashboard"] * n, "folder", *["dashboard"] * n]
    assert "plantstream-overview" in out[2] and "plantstream-gateways" in out[5]
    assert "plantstream-zh-cn" in out[2 + n] and "PlantStream（中文）" in out[2 + n]
    assert "plantstream-overview-zh-cn" in out[3 + n] and "工厂总览" in out[3 + n]
    # then every alert rule of the plant (deploy/config/plant.toml), by uid
    first_rule = 3 + 2 * n
    rules = [line.split()[6] for line in out[first_rule:-1]]
    assert all(line.split()[4:6] == ["alert", "rule"] for line in out[first_rule:-1])
    assert {"ps-gw-silent-gw-line-1", "ps-long-stop-suzhou-1", "ps-oee-line-1",
            "ps-dual-control-suzhou-1", "ps-dead-letters", "ps-ingest-lag",
            "ps-meter-silent-suzhou-1"} <= set(rules) and len(set(rules)) == len(rules)
    assert out[-1] == f"dry run: nothing sent to {closed}"


def test_closed_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(GrafanaUnreachable) as caught:
        push(url=url, settings=SETTINGS, token="t", timeout_s=2.0)
    assert caught.value.step == "read folder" and caught.value.url == url


@pytest.mark.parametrize("url", ["grafana:3000", "ftp://grafana", "http://"])
def test_bad_url_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(GrafanaUnreachable, match="not an http"):
        push(url=url, settings=SETTINGS, dry_run=True)


def test_refused_token_is_an_auth_error(grafana_double: Callable[[Answer], str]) -> None:
    url = grafana_double(lambda method, path: (401, {"message": "invalid API key"}))
    with pytest.raises(GrafanaAuthError) as caught:
        push(url=url, settings=SETTINGS, token="wrong", timeout_s=5.0)
    assert caught.value.status == 401 and "refused" in caught.value.reason


def test_missing_permission_names_the_step(grafana_double: Callable[[Answer], str]) -> None:
    """A Viewer token: reading works (the folder is missing), creating is forbidden."""
    def answer(method: str, path: str) -> tuple[int, dict[str, object]]:
        if method == "GET":
            return 404, {"message": "folder not found"}
        return 403, {"message": "You'll need additional permissions to perform this action."}

    url = grafana_double(answer)
    with pytest.raises(GrafanaPermissionError) as caught:
        push(url=url, settings=SETTINGS, token="viewer", timeout_s=5.0)
    assert (caught.value.status, caught.value.step) == (403, "create folder")
    assert "role" in caught.value.reason


def test_server_error_is_reported(grafana_double: Callable[[Answer], str]) -> None:
    url = grafana_double(lambda method, path: (500, {"message": "database is locked"}))
    with pytest.raises(GrafanaRequestError, match="database is locked"):
        push(url=url, settings=SETTINGS, token="t", timeout_s=5.0)


def test_cli_prints_the_reason_and_exits_2(grafana_double: Callable[[Answer], str],
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", "wrong")
    url = grafana_double(lambda method, path: (401, {"message": "invalid API key"}))
    assert main(["dashboards", "push", "--url", url]) == 2
    err = capsys.readouterr().err
    assert "read folder" in err and "refused" in err and "HTTP 401" in err
    assert "wrong" not in err  # the token never shows


def test_export_writes_the_provisioning_tree(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboards", "export", str(tmp_path)]) == 0
    for relative, content in provisioning_files(SETTINGS).items():
        assert (tmp_path / relative).read_text(encoding="utf-8") == content
    # 2 yaml, the dashboards in 2 languages, 3 alerting files
    assert len(capsys.readouterr().out.splitlines()) == 2 + 2 * len(DASHBOARDS) + 3


class _RuleStore(BaseHTTPRequestHandler):
    """Answers like Grafana's HTTP API for what push touches, and keeps the alert rules
    it is sent by uid (POST creates, PUT updates, GET reads): enough to show that push
    addresses rules by uid. A test double, not Grafana: it checks no rule content."""

    rules: dict[str, dict[str, object]]
    requests: list[tuple[str, str, str]]  # method, path, X-Disable-Provenance

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        self.requests.append((self.command, self.path,
                              self.headers.get("X-Disable-Provenance", "")))
        prefix = "/api/v1/provisioning/alert-rules"
        if self.path.startswith(prefix):
            uid = self.path[len(prefix) + 1:]
            if self.command == "GET":
                return self._reply(200, self.rules[uid]) if uid in self.rules else \
                    self._reply(404, {"message": "rule not found"})
            if self.command == "POST" and not uid and body["uid"] not in self.rules:
                self.rules[body["uid"]] = body
                return self._reply(201, body)
            if self.command == "PUT" and uid in self.rules:
                self.rules[uid] = body
                return self._reply(200, body)
            return self._reply(409, {"message": "conflict"})
        return self._reply(200, {"uid": "x", "id": 1, "status": "success"})

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, *args: object) -> None:
        pass


def test_push_creates_rules_once_then_updates_them_by_uid() -> None:
    from plantstream.config import load_plant
    from plantstream.dashboards.alerts import build_rules
    from plantstream.dashboards.provisioning import DEFAULT_PLANT

    plant = load_plant(DEFAULT_PLANT)
    handler = type("Store", (_RuleStore,), {"rules": {}, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first = push(url=url, settings=SETTINGS, token="t", timeout_s=5.0, plant=plant)
        second = push(url=url, settings=SETTINGS, token="t", timeout_s=5.0, plant=plant)
    finally:
        server.shutdown()
        server.server_close()
    uids = [r.uid for r in build_rules(plant)]
    assert [s.uid for s in first if s.kind == "alert rule"] == uids
    assert {s.action for s in first if s.kind == "alert rule"} == {"created"}
    assert {s.action for s in second if s.kind == "alert rule"} == {"updated"}
    assert sorted(handler.rules) == sorted(uids)  # one copy of each rule, by uid
    assert handler.rules[uids[0]]["folderUID"] == "plantstream"
    writes = [r for r in handler.requests if r[1].startswith("/api/v1/provisioning")
              and r[0] != "GET"]
    assert len(writes) == 2 * len(uids) and {r[2] for r in writes} == {"true"}
