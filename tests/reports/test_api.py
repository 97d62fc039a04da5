"""The pull API over real HTTP: tokens, scopes, audit log, formats, rate limit, fuzzing."""

from __future__ import annotations

import csv as csv_module
import hashlib
import io
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from plantstream.devstack.services import InfluxD
from plantstream.reports import verify
from plantstream.reports.audit import read_audit
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import TOKENS, lines, write_configs, write_points
from tests.reports.live import live_server

pytestmark = pytest.mark.services

REPORT = "/v1/reports/energy"


@dataclass(frozen=True)
class Api:
    base: str
    audit: Path
    config: Path

    def get(self, path: str, token: str | None = None, *,
            headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {TOKENS[token]}"
        return httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def api(influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    database = f"reports_api_{uuid.uuid4().hex[:8]}"
    directory = tmp_path_factory.mktemp("reports-api")
    with InfluxQL(url=influxd.url, database=database) as client:
        client.create_database()
        write_points(influxd.url, database, lines())
        config = write_configs(directory, url=influxd.url, database=database)
        with live_server(config) as base:
            yield Api(base=base, audit=directory / "audit.jsonl", config=config)
        client.query(f'DROP DATABASE "{database}"')


def _reason(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "reason"} and body["reason"]
    return str(body["error"])


def test_no_token_is_401(api: Api) -> None:
    r = api.get(REPORT, scope="site-a", period="2026-10")
    assert r.status_code == 401 and _reason(r) == "missing_token"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.get(f"{api.base}{REPORT}", params={"scope": "site-a", "period": "2026-10"},
                  headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401
    r = httpx.get(f"{api.base}{REPORT}", params={"scope": "site-a", "period": "2026-10"},
                  headers={"Authorization": "Bearer not-a-known-token"})
    assert r.status_code == 401 and _reason(r) == "invalid_token"


def test_revoked_and_expired_tokens_are_refused(api: Api) -> None:
    r = api.get(REPORT, "revoked", scope="site-a", period="2026-10")
    assert r.status_code == 401 and _reason(r) == "token_revoked"
    r = api.get(REPORT, "expired", scope="site-a", period="2026-10")
    assert r.status_code == 401 and _reason(r) == "token_expired"
    r = api.get("/v1/sites/site-a/realtime", "expired", day="2026-10-05")
    assert r.status_code == 401


def test_another_jurisdiction_is_403(api: Api) -> None:
    # Zhejiang's platform holds ent-a; ent-b (Jiangsu) and its site are not its own
    for scope in ("ent-b", "site-b"):
        r = api.get(REPORT, "zj", scope=scope, period="2026-10")
        assert r.status_code == 403 and _reason(r) == "out_of_scope"
    r = api.get(REPORT, "js", scope="ent-a", period="2026-10")
    assert r.status_code == 403
    r = api.get("/v1/sites/site-a/realtime", "js", day="2026-10-05")
    assert r.status_code == 403
    # the park holds site-a only: not the enterprise report
    assert api.get(REPORT, "park", scope="ent-a", period="2026-10").status_code == 403
    assert api.get(REPORT, "js", scope="site-b", period="2026-10").status_code == 200


def test_bad_parameters_are_4xx_with_a_reason(api: Api) -> None:
    r = api.get(REPORT, "zj", scope="site-a", period="October")
    assert r.status_code == 422 and "YYYY-MM" in r.json()["reason"]
    r = api.get(REPORT, "zj", scope="site-a", period="2026-10", format="docx")
    assert r.status_code == 422 and "format" in r.json()["reason"]
    r = api.get(REPORT, "zj", scope="site-a", period="2099-01")
    assert r.status_code == 422 and "no complete local day" in r.json()["reason"]


def test_every_successful_pull_is_in_the_audit_log(api: Api) -> None:
    before = len(read_audit(api.audit))
    pulls = []
    for token, scope, fmt in (("zj", "site-a", "json"), ("zj", "ent-a", "csv"),
                              ("park", "site-a", "pdf"), ("js", "site-b", "json")):
        r = api.get(REPORT, token, scope=scope, period="2026-10", format=fmt)
        assert r.status_code == 200, r.text
        pulls.append((scope, f"energy 2026-10 {fmt}", r.headers["x-content-sha256"]))
        if fmt == "json":
            assert verify(r.content)
            assert json.loads(r.content)["content_sha256"] == r.headers["x-content-sha256"]
        if fmt == "pdf":
            assert r.content.startswith(b"%PDF")
    r = api.get("/v1/sites/site-a/realtime", "park", day="2026-10-05")
    assert r.status_code == 200
    pulls.append(("site-a", "2026-10-05", hashlib.sha256(r.content).hexdigest()))
    assert api.get(REPORT, "js", scope="site-a", period="2026-10").status_code == 403
    # written once each body was delivered: the last one may land just after its response
    deadline = time.monotonic() + 30
    while len(read_audit(api.audit)) < before + len(pulls) and time.monotonic() < deadline:
        time.sleep(0.02)
    entries = read_audit(api.audit)[before:]
    assert [(e.scope, e.detail, e.sha256) for e in entries] == pulls  # refused: not logged
    assert all(e.outcome == "delivered" for e in entries)
    assert [e.regulator for e in entries] == ["zj-platform", "zj-platform", "ningbo-park",
                                              "js-platform", "ningbo-park"]
    assert all(e.client == "127.0.0.1" and e.bytes > 0 for e in entries)


def test_the_same_report_twice_has_the_same_hash(api: Api) -> None:
    first = api.get(REPORT, "zj", scope="site-a", period="2026-10")
    second = api.get(REPORT, "park", scope="site-a", period="2026-10")
    assert first.content == second.content
    csv = api.get(REPORT, "zj", scope="site-a", period="2026-10", format="csv")
    rows = list(csv_module.reader(io.StringIO(csv.text)))
    assert rows[1][:2] == ["content_sha256", first.headers["x-content-sha256"]]
    assert ["energy.controlled_total_tce", "6.11258"] in [r[:2] for r in rows]


def test_language_per_regulator_or_accept_language(api: Api, tmp_path: Path) -> None:
    """The Ningbo park office is configured for zh-CN, the Zhejiang platform is not; a
    request's Accept-Language overrides either. The JSON and hash never change."""
    def pull(token: str, fmt: str, accept: str | None = None) -> httpx.Response:
        r = api.get(REPORT, token, scope="site-a", period="2026-10", format=fmt,
                    headers={"Accept-Language": accept} if accept else {})
        assert r.status_code == 200, r.text
        return r

    answers = {
        ("park", None): "zh-CN", ("zj", None): "en", ("park", "en-US,en;q=0.9"): "en",
        ("zj", "zh-CN,zh;q=0.9,en;q=0.8"): "zh-CN", ("zj", "fr"): "en",
        ("park", "fr, de;q=0.5"): "zh-CN"}
    digests = set()
    for (token, accept), lang in answers.items():
        r = pull(token, "csv", accept)
        assert r.headers["content-language"] == lang
        assert "Accept-Language" in r.headers["vary"]
        header = next(csv_module.reader(io.StringIO(r.text)))
        assert header == (["字段", "数值", "说明"] if lang == "zh-CN"
                          else ["field", "value", "label"]), (token, accept)
        digests.add(r.headers["x-content-sha256"])
    json_en, json_zh = pull("zj", "json"), pull("zj", "json", "zh-CN")
    assert json_en.content == json_zh.content and "content-language" not in json_zh.headers
    assert digests == {json_en.headers["x-content-sha256"]}
    pdf = pull("zj", "pdf", "zh-CN")
    (tmp_path / "zh.pdf").write_bytes(pdf.content)
    text = subprocess.run(["pdftotext", str(tmp_path / "zh.pdf"), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    assert "综合能源消费量" in text and "能耗双控考核量" in text


def test_realtime_feed(api: Api) -> None:
    r = api.get("/v1/sites/site-a/realtime", "zj", day="2026-10-05")
    feed = r.json()
    assert feed["interval_min"] == 15 and feed["timezone"] == "Asia/Shanghai"
    # the day's batches start at 00:00 local: one 15-minute value per carrier
    intervals = {(v["start"], v["carrier"]): v["quantity"] for v in feed["intervals"]}
    assert intervals == {
        ("2026-10-05T00:00:00+08:00", "electricity"): 1800.0,
        ("2026-10-05T00:00:00+08:00", "natural_gas"): 100.0,
        ("2026-10-05T00:00:00+08:00", "steam_export"): 1000.0,
        ("2026-10-05T00:00:00+08:00", "green_power"): 200.0,
        ("2026-10-05T00:00:00+08:00", "diesel_feed"): 10.0}
    gas = next(v for v in feed["intervals"] if v["carrier"] == "natural_gas")
    assert gas["kgce"] == pytest.approx(100 * 1.2143) and gas["unit"] == "m3"
    daily = [(v["start"][:10], v["quantity"]) for v in feed["daily_totals"]
             if v["carrier"] == "electricity"]
    assert daily == [(f"2026-10-{d:02d}", 1800.0) for d in range(1, 6)]
    monthly = {v["start"][:7]: v["quantity"] for v in feed["monthly_totals"]
               if v["carrier"] == "electricity"}
    assert monthly["2026-09"] == 51_000.0 and monthly["2026-10"] == 9_000.0
    assert len(monthly) == 10


def test_rate_limit_is_429_with_retry_after(api: Api, tmp_path: Path) -> None:
    text = api.config.read_text().replace("per_minute = 6000\nburst = 1000",
                                          "per_minute = 1\nburst = 2")
    for name in ("plant-a.toml", "plant-b.toml", "financials.csv"):
        (tmp_path / name).write_bytes((api.config.parent / name).read_bytes())
    (tmp_path / "reports.toml").write_text(text)
    with live_server(tmp_path / "reports.toml") as base:
        headers = {"Authorization": f"Bearer {TOKENS['zj']}"}
        codes = [httpx.get(f"{base}/v1/whoami", headers=headers).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = httpx.get(f"{base}/v1/whoami", headers=headers)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # buckets are per regulator
        other = {"Authorization": f"Bearer {TOKENS['js']}"}
        assert httpx.get(f"{base}/v1/whoami", headers=other).status_code == 200


# --- schemathesis: the OpenAPI spec fuzzed against the running server, no 5xx -----------

@pytest.mark.slow
def test_fuzzed_requests_never_get_a_5xx(api: Api) -> None:
    """Positive and negative cases from the served spec, with a valid token of a wide scope,
    one of a narrow scope, and none (schemathesis' pytest plugin does not load lazily under
    pytest 9, and its requests transport breaks beside urllib3-future, so the cases are
    drawn from its strategies, with a bounded budget, and sent with httpx)."""
    schema = schemathesis.openapi.from_url(f"{api.base}/openapi.json")
    report = schema["/v1/reports/energy"]["GET"]
    feed = schema["/v1/sites/{site}/realtime"]["GET"]
    strategy = st.one_of(
        schema.as_strategy(), schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        # a real scope, so that periods, formats and days reach the computation
        report.as_strategy(query={"scope": "site-a"}),
        report.as_strategy(query={"scope": "site-a", "period": "2026-10"}),
        feed.as_strategy(path_parameters={"site": "site-a"}))
    statuses: set[int] = set()
    reports_computed: list[str] = []

    @hypothesis.given(case=strategy, token=st.sampled_from(["zj", "park", None]))
    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def run(case: schemathesis.Case, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {TOKENS[token]}"} if token else {}
        kwargs = case.as_transport_kwargs(base_url=api.base, headers=headers)
        try:
            response = httpx.request(kwargs["method"], kwargs["url"],
                                     params=kwargs.get("params"), headers=kwargs.get("headers"),
                                     cookies=kwargs.get("cookies"), timeout=60)
        except httpx.LocalProtocolError:  # a header value no HTTP client sends (b"Bearer ")
            hypothesis.reject()
        statuses.add(response.status_code)
        if response.status_code == 200 and "x-content-sha256" in response.headers \
                and case.path == "/v1/reports/energy":
            reports_computed.append(case.query.get("format", "json") if case.query else "json")
        assert response.status_code < 500, (case.method, case.path, case.query,
                                            response.text[:300])

    run()
    assert {200, 401, 403, 422} <= statuses  # the fuzzing reached past auth and validation
    assert reports_computed  # and produced reports
    assert httpx.get(f"{api.base}/healthz").json()["unexpected_errors"] == 0
