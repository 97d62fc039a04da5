"""The pull API against a hostile or careless caller, over real HTTP (issue 19).

Two enterprises with their own products, limit grades, carriers, quotas and financial
rows: a report holds nothing of the other one; look-alike inputs are 422 with a reason;
every pull is audited once its body is delivered (a dropped one as failed), every
refused request is in the security log; authentication failures are limited per client
address; no token in clear anywhere; reports are not cached.
"""

from __future__ import annotations

import csv as csv_module
import datetime as dt
import io
import json
import logging
import math
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from plantstream.devstack.services import InfluxD
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import TOKENS, ZONE, lines, write_configs, write_points
from tests.reports.live import live_server

pytestmark = pytest.mark.services

REPORT = "/v1/reports/energy"

# Enterprise B gets its own product (limit grades, standard), carrier, quota and
# financial row, with figures that appear nowhere in enterprise A's data.
B_CONFIG = """
[[products]]
product = "bolt-beta"
unit = "tonne"
standard = "GB 77777-2026 (beta)"
lines = ["line-b"]
grades = { "1" = 7.77, "2" = 8.88 }

[[quotas]]
scope = "ent-b"
year = 2026
annual_tce = 4321.0
intensity_target_tce_per_10k_yuan = 0.0777
"""

NAMES = {
    "a": ["ent-a", "Alpha Components", "prov-zj", "site-a", "Alpha Ningbo", "line-1", "line-2",
          "m1", "m2", "widget", "gadget", "GB 99999-2026 (test)", "natural_gas", "steam_export",
          "green_power", "diesel_feed", "piece", "zj-platform", "ningbo-park"],
    "b": ["ent-b", "Beta Castings", "prov-js", "site-b", "line-b", "b1", "bolt-beta",
          "GB 77777-2026 (beta)", "tonne", "compressed_air", "js-platform"],
}
# figures of each enterprise's configuration and data that the other's reports cannot hold
FIGURES = {
    "a": [2.5, 20.0, 4_000_000.0, 5_000_000.0, 1_200_000.0, 3_800_000.0, 46_500.0, 3_100.0],
    "b": [7.77, 8.88, 4321.0, 0.0777, 300_000.0, 9_300.0, 2_387.0, 1_720.5],
}


def _b_points() -> list[str]:
    out = []
    for d in range(1, 32):
        t = int(dt.datetime.combine(dt.date(2026, 10, d), dt.time(0), tzinfo=ZONE)
                .timestamp() * 1000)
        out.append(f"production,site=site-b,line=line-b,machine=b1,product=bolt-beta "
                   f"good=77i,scrap=0i,rework=0i {t}")
        out.append(f"energy,site=site-b,line=line-b,machine=b1,carrier=compressed_air "
                   f"quantity=55.5,unit=\"m3\",covered_s=86400.0,interval_s=86400.0 {t}")
    return out


@dataclass
class Api:
    base: str
    directory: Path
    log: list[str] = field(default_factory=list)

    def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKENS[token]}"} if token else {}
        return httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=60)

    def lines(self, name: str) -> list[dict[str, Any]]:
        path = self.directory / name
        if not path.exists():
            return []
        text = path.read_text()  # the server may be writing a line: complete lines only
        return [json.loads(x) for x in text[:text.rfind("\n") + 1].splitlines() if x.strip()]

    def audit(self) -> list[dict[str, Any]]:
        return self.lines("audit.jsonl")

    def security(self) -> list[dict[str, Any]]:
        return self.lines("security.jsonl")


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class _Records(logging.Handler):
    def __init__(self, out: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.append(self.format(record))


def two_enterprises(directory: Path, url: str, database: str, extra: str = "") -> Path:
    config = write_configs(directory, url=url, database=database)
    config.write_text(config.read_text() + B_CONFIG + extra)
    return config


@pytest.fixture(scope="module")
def api(influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    database = f"reports_sec_{uuid.uuid4().hex[:8]}"
    directory = tmp_path_factory.mktemp("reports-security")
    records: list[str] = []
    handler = _Records(records)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        with InfluxQL(url=influxd.url, database=database) as client:
            client.create_database()
            write_points(influxd.url, database, lines() + _b_points())
            config = two_enterprises(directory, influxd.url, database)
            with live_server(config) as base:
                yield Api(base=base, directory=directory, log=records)
            client.query(f'DROP DATABASE "{database}"')
    finally:
        logging.getLogger().removeHandler(handler)


# --- 1. nothing of another enterprise ----------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[0-9][0-9,]*(?:\.[0-9]+)?(?![A-Za-z0-9_])")


def _leaks_in_text(text: str, other: str) -> list[str]:
    tokens = set(_TOKEN.findall(text))
    found = [n for n in NAMES[other] if (n in text if " " in n else n in tokens)]
    numbers = set()
    for token in _NUMBER.findall(text):
        try:
            numbers.add(float(token.replace(",", "")))
        except ValueError:
            continue
    found += [str(f) for f in FIGURES[other] if any(math.isclose(f, x) for x in numbers)]
    return found


def _leaks_in_json(value: Any, other: str, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += [f"{path}.{k} (key)" for _ in _leaks_in_text(k, other)[:1]]
            found += _leaks_in_json(v, other, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _leaks_in_json(v, other, f"{path}[{i}]")
    elif isinstance(value, str):
        found += [f"{path}: {x}" for x in _leaks_in_text(value, other)]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found += [f"{path}: {f}" for f in FIGURES[other] if math.isclose(f, value)]
    return found


def _pdf_text(body: bytes, tmp_path: Path) -> str:
    pdf = tmp_path / f"{uuid.uuid4().hex}.pdf"
    pdf.write_bytes(body)
    return subprocess.run([shutil.which("pdftotext") or "pdftotext", "-layout", str(pdf), "-"],
                          check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.mark.parametrize(("token", "scope", "own", "other"), [
    ("zj", "site-a", "a", "b"), ("zj", "ent-a", "a", "b"), ("park", "site-a", "a", "b"),
    ("js", "site-b", "b", "a"), ("js", "ent-b", "b", "a")])
def test_a_report_holds_nothing_of_another_enterprise(api: Api, tmp_path: Path, token: str,
                                                      scope: str, own: str,
                                                      other: str) -> None:
    r = api.get(REPORT, token, scope=scope, period="2026-10")
    assert r.status_code == 200, r.text
    report = r.json()
    # the report is not empty: its own enterprise's names and figures are there
    assert _leaks_in_json(report, own), "the checks find nothing even in the own report"
    assert _leaks_in_json(report, other) == []
    assert {p["product"] for p in report["products"]} == (
        {"widget", "gadget"} if own == "a" else {"bolt-beta"})
    csv = api.get(REPORT, token, scope=scope, period="2026-10", format="csv")
    assert csv.status_code == 200
    rows = [(field, value) for field, value, _ in
            list(csv_module.reader(io.StringIO(csv.text)))[1:]]
    assert len(rows) > 100
    leaks = [f"{k},{v}: {x}" for k, v in rows for x in _leaks_in_text(k, other)]
    leaks += [f"{k},{v}: {x}" for k, v in rows for x in _leaks_in_json(
        _number_or_text(v), other)]
    assert leaks == []
    pdf = api.get(REPORT, token, scope=scope, period="2026-10", format="pdf")
    text = _pdf_text(pdf.content, tmp_path)
    assert _leaks_in_text(text, own)
    assert _leaks_in_text(text, other) == []


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


# --- 2. ASCII inputs -----------------------------------------------------------------------

_LOOKALIKE_PERIODS = [
    "２０２６-１０",  # fullwidth digits
    "٢٠٢٦-١٠",  # Arabic-Indic digits
    "२०२६-१०",  # Devanagari digits
    "2026-1０", "2026\u201010", "2026－10", "2026-Ｑ4", "2026-10-01..2026-10-0５",
    "2026-10\n", " 2026-10", "2026-10\x00",
]
_LOOKALIKE_DAYS = ["2026-10-0５", "２０２６-１０-０５", "2026-10-05\n", "2026-10-05T00:00:00",
                   "20261005", "1790000000", "2026-10-05 "]
_LOOKALIKE_IDS = ["ｓｉｔｅ-a", "site-a\n", "\u0455ite-a", "site\u2010a", "site-a\x00",
                  "site-\u0430"]


def _invalid(r: httpx.Response, name: str) -> None:
    assert r.status_code == 422, (name, r.status_code, r.text[:200])
    body = r.json()
    assert body["error"] == "invalid_request" and name in body["reason"], body


@pytest.mark.parametrize("fmt", ["json", "csv", "pdf"])
def test_lookalike_periods_are_422(api: Api, fmt: str) -> None:
    for period in _LOOKALIKE_PERIODS:
        _invalid(api.get(REPORT, "zj", scope="site-a", period=period, format=fmt), "period")


def test_lookalike_days_and_ids_are_422(api: Api) -> None:
    for day in _LOOKALIKE_DAYS:
        _invalid(api.get(REPORT, "zj", scope="site-a", period="2026-10", as_of=day), "as_of")
        _invalid(api.get("/v1/sites/site-a/realtime", "zj", day=day), "day")
    for scope in _LOOKALIKE_IDS:
        _invalid(api.get(REPORT, "zj", scope=scope, period="2026-10"), "scope")
        site = httpx.URL(api.base).copy_with(raw_path=(
            f"/v1/sites/{urllib.parse.quote(scope, safe='')}/realtime?day=2026-10-05").encode())
        _invalid(httpx.get(site, headers={"Authorization": f"Bearer {TOKENS['zj']}"}), "site")


# --- 4. the audit log and the security log ------------------------------------------------

def test_a_pull_is_audited_once_delivered(api: Api) -> None:
    """A request answered with an error leaves no pull in the audit log (it used to, for
    the 500 a look-alike period gave); a delivered pull is there, marked delivered."""
    before = len(api.audit())
    assert api.get(REPORT, "zj", scope="site-a", period="２０２６-１０",
                   format="csv").status_code != 200
    ok = api.get(REPORT, "park", scope="site-a", period="2026-10-05", format="csv")
    assert ok.status_code == 200
    wait_for("the audit entry", lambda: len(api.audit()) > before)
    entries = api.audit()[before:]
    assert [(e["regulator"], e["detail"], e["sha256"]) for e in entries] == [
        ("ningbo-park", "energy 2026-10-05 csv", ok.headers["x-content-sha256"])]
    assert entries[0].get("outcome") == "delivered" and entries[0]["bytes"] == len(ok.content)


def test_a_pull_the_client_dropped_is_audited_as_failed(api: Api) -> None:
    """The regulator asks for a year PDF and closes the connection before the answer."""
    before = len(api.audit())
    host, port = api.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"GET {REPORT}?scope=ent-a&period=2026&format=pdf HTTP/1.1\r\n"
                  f"Host: {host}\r\nAuthorization: Bearer {TOKENS['zj']}\r\n\r\n".encode())
        s.shutdown(socket.SHUT_WR)
    wait_for("the audit entry", lambda: len(api.audit()) > before, timeout_s=120)
    entries = api.audit()[before:]
    assert len(entries) == 1 and entries[0]["regulator"] == "zj-platform"
    assert entries[0]["detail"] == "energy 2026 pdf"
    assert entries[0].get("outcome") == "failed", entries[0]
    assert "disconnect" in entries[0]["reason"]


def test_every_refused_request_is_in_the_security_log(api: Api) -> None:
    before = len(api.security())
    cases = [
        (api.get(REPORT, None, scope="site-a", period="2026-10"), "anonymous", 401),
        (httpx.get(f"{api.base}/v1/whoami", headers={"Authorization": "Bearer guess-1"}),
         "anonymous", 401),
        (api.get("/v1/whoami", "revoked"), "old-platform", 401),
        (api.get("/v1/whoami", "expired"), "expired-platform", 401),
        (api.get(REPORT, "zj", scope="site-b", period="2026-10"), "zj-platform", 403),
        (api.get(REPORT, "park", scope="site-a", period="October"), "ningbo-park", 422),
        (api.get("/v1/sites/site-a/realtime", "js", day="2026-10-05"), "js-platform", 403),
        (httpx.get(f"{api.base}/v1/nothing-here"), "anonymous", 404),
    ]
    wait_for("the security log", lambda: len(api.security()) >= before + len(cases))
    entries = api.security()[before:]
    assert len(entries) == len(cases)
    for (response, regulator, status), entry in zip(cases, entries, strict=True):
        assert response.status_code == status
        assert entry["regulator"] == regulator and entry["status"] == status, entry
        assert entry["path"] == response.request.url.path
        assert entry["reason"] and entry["error"] == response.json().get("error", entry["error"])
        assert entry["client"] == "127.0.0.1"


def test_a_401_does_not_name_the_regulator(api: Api) -> None:
    for token in ("revoked", "expired"):
        r = api.get(REPORT, token, scope="site-a", period="2026-10")
        assert r.status_code == 401
        text = r.text + json.dumps(dict(r.headers))
        assert "old-platform" not in text and "expired-platform" not in text, text


def test_tokens_never_appear_in_clear(api: Api) -> None:
    token = TOKENS["zj"]
    # a careless client puts its token where parameters go, too
    api.get(REPORT, "zj", scope="site-a", period=token)
    api.get(REPORT, "zj", scope=token, period="2026-10")
    httpx.get(f"{api.base}/v1/sites/{token}/realtime", params={"day": token},
              headers={"Authorization": f"Bearer {token}"})
    httpx.get(f"{api.base}/v1/whoami", headers={"Authorization": f"Bearer {token}x"})
    wait_for("the security log", lambda: any(e["status"] == 401 and e["path"] == "/v1/whoami"
                                             for e in api.security()))
    logged = "\n".join([(api.directory / "audit.jsonl").read_text(),
                        (api.directory / "security.jsonl").read_text(), *api.log])
    for secret in TOKENS.values():
        assert secret not in logged


def test_reports_and_the_feed_are_not_cached_or_sniffed(api: Api) -> None:
    responses = [api.get(REPORT, "zj", scope="site-a", period="2026-10-05", format=fmt)
                 for fmt in ("json", "csv", "pdf")]
    responses.append(api.get("/v1/sites/site-a/realtime", "zj", day="2026-10-05"))
    responses.append(api.get(REPORT, "zj", scope="site-b", period="2026-10"))  # 403
    responses.append(api.get(REPORT, None, scope="site-a", period="2026-10"))  # 401
    for r in responses:
        assert r.headers.get("cache-control") == "no-store", (r.request.url, r.headers)
        assert r.headers.get("x-content-type-options") == "nosniff"


# --- 5. authentication failures are limited per client address ----------------------------

def test_authentication_failures_are_rate_limited_per_address(
        influxd: InfluxD, tmp_path: Path) -> None:
    """With the default limit (a burst of 10), the 11th bad token from one address is a
    429, and so is a good token from it; another address is not affected."""
    config = write_configs(tmp_path, url=influxd.url, database="unused")
    config.write_text(re.sub(r"\[auth_failure_limit\][^\[]*", "", config.read_text()))
    with live_server(config) as base:
        statuses = [httpx.get(f"{base}/v1/whoami",
                              headers={"Authorization": f"Bearer guess-{i}"}).status_code
                    for i in range(11)]
        assert statuses == [401] * 10 + [429]
        good = {"Authorization": f"Bearer {TOKENS['zj']}"}
        blocked = httpx.get(f"{base}/v1/whoami", headers=good)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert blocked.json()["error"] == "too_many_auth_failures"
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport) as other:
            assert other.get(f"{base}/v1/whoami", headers=good).status_code == 200
        log = tmp_path / "security.jsonl"
        wait_for("the security log",
                 lambda: log.exists() and len(log.read_text().splitlines()) >= 12)
        security = [json.loads(x) for x in log.read_text().splitlines()]
        assert [e["status"] for e in security[:12]] == [401] * 10 + [429, 429]
        assert all(e["regulator"] == "anonymous" for e in security[:11])


# --- 3. an unexpected exception is a logged 500, counted -----------------------------------

def test_an_unexpected_error_is_a_logged_counted_500(influxd: InfluxD, tmp_path: Path) -> None:
    """Two meter values of 1e308 kWh on two days of one site (each one a valid float, their
    sum is not) make the report's arithmetic fail: a server-side fault, not the caller's.
    The answer is a JSON 500, the traceback is logged, /healthz counts it, the security
    log has it, and no pull is in the audit log."""
    database = f"reports_fault_{uuid.uuid4().hex[:8]}"
    records: list[str] = []
    handler = _Records(records)
    logging.getLogger("plantstream.reports").addHandler(handler)
    huge = [f"energy,site=site-b,line=line-b,machine=b1,carrier=electricity quantity=1e308,"
            f"unit=\"kWh\",covered_s=86400.0,interval_s=86400.0 "
            f"{int(dt.datetime(2026, 10, d, tzinfo=ZONE).timestamp() * 1000)}"
            for d in (2, 3)]
    try:
        with InfluxQL(url=influxd.url, database=database) as client:
            client.create_database()
            write_points(influxd.url, database, huge)
            config = write_configs(tmp_path, url=influxd.url, database=database)
            with live_server(config) as base:
                assert httpx.get(f"{base}/healthz").json()["unexpected_errors"] == 0
                r = httpx.get(f"{base}{REPORT}", params={"scope": "site-b",
                                                        "period": "2026-10-01..2026-10-03"},
                              headers={"Authorization": f"Bearer {TOKENS['js']}"}, timeout=60)
                assert r.status_code == 500, r.text
                assert r.json()["error"] == "internal_error"
                assert r.headers["cache-control"] == "no-store"
                assert httpx.get(f"{base}/healthz").json()["unexpected_errors"] == 1
                log = tmp_path / "security.jsonl"
                wait_for("the security log", lambda: log.exists() and bool(log.read_text()))
                entry = json.loads(log.read_text().splitlines()[0])
                assert (entry["status"], entry["regulator"]) == (500, "js-platform")
            client.query(f'DROP DATABASE "{database}"')
    finally:
        logging.getLogger("plantstream.reports").removeHandler(handler)
    assert any("unexpected error" in x and "Traceback" in x for x in records)
    assert not (tmp_path / "audit.jsonl").exists()
