"""The jurisdiction evaluation over real HTTP: scopes, formats, hash, audit log, and the
enterprise's own view in its energy report."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from plantstream.devstack.services import InfluxD
from plantstream.reports import verify
from plantstream.reports.audit import read_audit
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import write_points
from tests.reports.live import live_server
from tests.reports.mu_dataset import TOKENS, lines, write_configs

pytestmark = pytest.mark.services

ROUTE = "/v1/reports/each-mu"


@dataclass(frozen=True)
class Api:
    base: str
    audit: Path

    def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKENS[token]}"} if token else {}
        return httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def api(influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    database = f"each_mu_api_{uuid.uuid4().hex[:8]}"
    directory = tmp_path_factory.mktemp("each-mu-api")
    with InfluxQL(url=influxd.url, database=database) as client:
        client.create_database()
        write_points(influxd.url, database, lines())
        config = write_configs(directory, url=influxd.url, database=database)
        with live_server(config) as base:
            yield Api(base=base, audit=directory / "audit.jsonl")
        client.query(f'DROP DATABASE "{database}"')


def test_the_jurisdictions_regulator_pulls_every_format_with_one_hash(api: Api) -> None:
    before = len(read_audit(api.audit))
    r = api.get(ROUTE, "county", jurisdiction="county-x", period="2026-01")
    assert r.status_code == 200, r.text
    assert verify(r.content)
    digest = r.headers["x-content-sha256"]
    doc = json.loads(r.content)
    assert doc["content_sha256"] == digest
    assert [row["enterprise"] for row in doc["ranking"]] == [
        "ent-1", "ent-4", "ent-3", "ent-2", "ent-5", "ent-6"]
    assert [row["class"] for row in doc["ranking"]] == ["A", "B", "B", "D", "D", None]
    csv = api.get(ROUTE, "county", jurisdiction="county-x", period="2026-01", format="csv")
    assert csv.status_code == 200 and csv.headers["x-content-sha256"] == digest
    assert csv.text.splitlines()[1].startswith("1,ent-1,")
    pdf = api.get(ROUTE, "county", jurisdiction="county-x", period="2026-01", format="pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    # written once each body was delivered: the last one may land just after its response
    deadline = time.monotonic() + 30
    while len(read_audit(api.audit)) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    entries = read_audit(api.audit)[before:]
    assert [(e.regulator, e.action, e.scope, e.sha256) for e in entries] == \
        [("county-x", "each_mu", "county-x", digest)] * 3
    assert [e.detail for e in entries] == ["each-mu 2026-01..2026-01 json",
                                           "each-mu 2026-01..2026-01 csv",
                                           "each-mu 2026-01..2026-01 pdf"]


@pytest.mark.parametrize(("token", "jurisdiction"), [
    ("one", "county-x"),  # one of six enterprises: would see the others' figures
    ("site", "county-x"),  # five of six sites
    ("other", "county-x"),  # another county's regulator
    ("county", "county-y"),  # a jurisdiction with none of its enterprises
    ("county", "no-such-county"),  # unknown: the same answer, nothing revealed
])
def test_a_regulator_sees_only_its_enterprises(api: Api, token: str, jurisdiction: str) -> None:
    before = len(read_audit(api.audit))
    r = api.get(ROUTE, token, jurisdiction=jurisdiction, period="2026-01")
    assert r.status_code == 403 and r.json()["error"] == "out_of_scope"
    assert "ent-" not in r.json()["reason"]
    assert len(read_audit(api.audit)) == before


def test_no_token_bad_period_and_unconfigured_jurisdiction(api: Api) -> None:
    assert api.get(ROUTE, jurisdiction="county-x", period="2026-01").status_code == 401
    r = api.get(ROUTE, "county", jurisdiction="county-x", period="2026-Q1")
    assert r.status_code == 422 and "YYYY" in r.json()["reason"]
    r = api.get(ROUTE, "county", jurisdiction="county-x", period="2099")
    assert r.status_code == 422 and "not complete" in r.json()["reason"]
    r = api.get(ROUTE, "other", jurisdiction="county-y", period="2026-01")
    assert r.status_code == 404 and "no evaluation configured" in r.json()["reason"]


def test_the_enterprise_sees_its_own_evaluation_in_its_energy_report(api: Api) -> None:
    r = api.get("/v1/reports/energy", "county", scope="ent-3", period="2026-01")
    assert r.status_code == 200, r.text
    view = json.loads(r.content)["each_mu"]
    assert view["jurisdiction"] == "county-x" and view["period"]["months"] == ["2026-01"]
    row = view["row"]
    assert (row["score"], row["class"], row["rank"]) == (100.0, "B", 3)
    assert row["next_class"]["target_class"] == "A"
    assert row["next_class"]["indicator"] == "tax_per_mu"
    assert [b["value"] for b in view["benchmarks"]][:2] == [20.0, 100.0]
    assert view["enterprises_in_jurisdiction"] == 6 and view["evaluable_in_jurisdiction"] == 5
    pdf = api.get("/v1/reports/energy", "county", scope="ent-3", period="2026-01",
                  format="pdf")
    assert pdf.status_code == 200
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.content, check=True,
                          capture_output=True).stdout.decode()
    page = text.split("\f")[3]  # the page after the energy report's three
    assert "Each Mu is a Hero: Enterprise 3" in page
    assert "100.00 / B" in page and "Largest weighted gap: tax_per_mu" in page
    # a site report has no evaluation (it is per enterprise); nor has ent-y's county
    site = json.loads(api.get("/v1/reports/energy", "county", scope="site-3",
                              period="2026-01").content)
    assert "each_mu" not in site
