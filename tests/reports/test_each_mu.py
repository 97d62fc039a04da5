"""The "Each Mu is a Hero" jurisdiction report against a hand computation
(tests/reports/mu_dataset.py), from a real InfluxDB."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from plantstream.analytics import DataImportError, load_financials
from plantstream.cli import main
from plantstream.devstack.services import InfluxD
from plantstream.errors import ConfigError
from plantstream.reports import Source, load_report_config, verify
from plantstream.reports.errors import ReportInputError
from plantstream.reports.mu.document import jurisdiction_csv, jurisdiction_json
from plantstream.reports.mu.inputs import enterprise_inputs
from plantstream.reports.mu.model import JurisdictionReport, jurisdiction_schema
from plantstream.reports.mu.pdf import jurisdiction_pdf
from plantstream.reports.mu.report import build_jurisdiction_report, parse_each_mu_period
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import write_points
from tests.reports.mu_dataset import lines, write_configs

pytestmark = pytest.mark.services

DOCS = Path(__file__).resolve().parents[2] / "docs"
TODAY = dt.date(2026, 12, 1)
VA_PER_TCE = 7000 / 860.3  # 10,000 yuan / tce: 7,000 over 7,000,000 kWh x 0.1229 kgce


@pytest.fixture
def report(influxd: InfluxD, database: str, influxql: InfluxQL,
           tmp_path: Path) -> JurisdictionReport:
    write_points(influxd.url, database, lines())
    loaded = load_report_config(write_configs(tmp_path, url=influxd.url, database=database))
    return build_jurisdiction_report(loaded, Source(client=influxql, kind="raw"),
                                     jurisdiction_id="county-x",
                                     period=parse_each_mu_period("2026-01"), today=TODAY)


def _published(report: JurisdictionReport) -> dict[str, object]:
    body, _ = jurisdiction_json(report)
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    return parsed


def test_every_number_equals_the_hand_computation(report: JurisdictionReport) -> None:
    doc = _published(report)
    r6 = pytest.approx  # the published figures are rounded to 6 decimals

    def near(x: float) -> object:
        return r6(round(x, 6), abs=1e-9)

    assert (doc["enterprises"], doc["evaluable"], doc["not_evaluable"]) == (6, 5, 1)
    bench = {b["indicator"]: b for b in doc["benchmarks"]}  # type: ignore[attr-defined]
    assert {b["group"] for b in bench.values()} == {"C34"}
    assert bench["tax_per_mu"]["value"] == 20.0  # 1,400 / 70 mu
    assert (bench["tax_per_mu"]["numerator_total"], bench["tax_per_mu"]["denominator_total"]) \
        == (1400.0, 70.0)
    assert bench["value_added_per_mu"]["value"] == 100.0  # 7,000 / 70
    assert bench["value_added_per_tce"]["value"] == near(VA_PER_TCE)
    assert bench["value_added_per_tce"]["denominator_total"] == near(860.3)
    assert bench["value_added_per_emission"]["value"] == 200.0  # 7,000 / 35 t
    assert bench["rd_share"]["value"] == 0.02  # 520 / 26,000
    assert bench["labour_productivity"]["value"] == 10.0  # 7,000 / 700 persons
    assert all(b["enterprises"] == 5 and b["source"] == "aggregate" for b in bench.values())
    # last year: money halved, land, emissions, energy and head count equal
    assert bench["tax_per_mu"]["last_year_value"] == 10.0
    assert bench["rd_share"]["last_year_value"] == 0.02

    rows = {r["enterprise"]: r for r in doc["ranking"]}  # type: ignore[attr-defined]
    assert [r["enterprise"] for r in doc["ranking"]] == [  # type: ignore[attr-defined]
        "ent-1", "ent-4", "ent-3", "ent-2", "ent-5", "ent-6"]
    expected = {  # score, class, points per indicator in configuration order
        "ent-1": (150.0, "A", [45.0, 30.0, 30.0, 15.0, 15.0, 15.0]),
        "ent-4": (109.5, "B", [37.5, 24.0, 16.0, 15.0, 5.0, 12.0]),
        "ent-3": (100.0, "B", [30.0, 20.0, 20.0, 10.0, 10.0, 10.0]),  # on the B threshold
        "ent-2": (75.5, "D", [22.5, 16.0, 16.0, 8.0, 5.0, 8.0]),
        "ent-5": (56.666667, "D", [15.0, 10.0, 40 / 3, 10 / 3, 10.0, 5.0]),
    }
    for rank, (enterprise, (score, klass, points)) in enumerate(expected.items(), start=1):
        row = rows[enterprise]
        assert (row["rank"], row["score"], row["class"], row["evaluable"]) == \
            (rank, score, klass, True), enterprise
        assert [f["points"] for f in row["indicators"]] == [near(p) for p in points]
        assert row["last_year"] == {"evaluable": True, "score": score, "class": klass,
                                    "rank": rank}
        assert row["score_change"] == 0.0
    e5 = {f["indicator"]: f for f in rows["ent-5"]["indicators"]}
    assert e5["tax_per_mu"]["value"] == 10.0 and e5["tax_per_mu"]["ratio"] == 0.5
    assert e5["value_added_per_tce"]["value"] == near(1000 / 184.35)
    assert e5["value_added_per_emission"]["value"] == near(1000 / 15)
    assert e5["labour_productivity"]["value"] == 5.0
    # this year / last year - 1: money doubled (+100 %), R&D share unchanged
    assert e5["tax_per_mu"]["change"] == 1.0 and e5["rd_share"]["change"] == 0.0
    e4 = {f["indicator"]: f for f in rows["ent-4"]["indicators"]}
    assert e4["value_added_per_emission"]["value"] is None  # no emissions: full points
    assert e4["value_added_per_emission"]["points"] == 15.0
    assert "no main-pollutant emissions" in e4["value_added_per_emission"]["note"]
    assert rows["ent-1"]["inputs"] == {
        "land_area_mu": 20.0, "tax_paid_yuan": 6_000_000.0,
        "value_added_yuan_comparable": 30_000_000.0, "main_revenue_yuan": 100_000_000.0,
        "rd_expenditure_yuan": 3_000_000.0, "employees_average": 200.0,
        "main_pollutants_weighted_t": 10.0, "controlled_tce": near(245.8)}

    # what moves each enterprise up: the largest weighted gap (weight x cap - points)
    assert rows["ent-1"]["next_class"] is None
    e3 = rows["ent-3"]["next_class"]
    assert (e3["target_class"], e3["bar_score"], e3["points_needed"], e3["indicator"],
            e3["weighted_gap_points"], e3["value_needed"]) == \
        ("A", 120.0, 20.0, "tax_per_mu", 15.0, None)  # 1 + 20/30 > the cap 1.5
    e4n = rows["ent-4"]["next_class"]
    assert (e4n["indicator"], e4n["points_needed"], e4n["weighted_gap_points"]) == \
        ("value_added_per_tce", 10.5, 14.0)
    assert e4n["value_needed"] == near((0.8 + 10.5 / 20) * VA_PER_TCE)
    e2 = rows["ent-2"]["next_class"]
    assert (e2["target_class"], e2["bar_score"], e2["points_needed"], e2["indicator"],
            e2["value_needed"]) == ("C", 80.0, 4.5, "tax_per_mu", near(18.0))
    e5n = rows["ent-5"]["next_class"]
    assert (e5n["indicator"], e5n["points_needed"]) == ("tax_per_mu", 23.333333)
    assert e5n["value_needed"] == near(20 * (0.5 + 23.333333 / 30))

    six = rows["ent-6"]
    assert (six["evaluable"], six["score"], six["class"], six["rank"]) == \
        (False, None, None, None)
    assert six["missing"] == ["site-6 2026-01 tax_paid_yuan",
                              "site-6 land_area_mu (plant registry)"]
    assert six["last_year"]["evaluable"] is False

    classes = {c["class"]: c for c in doc["classes"]}  # type: ignore[attr-defined]
    assert [(c["count"], c["share"], c["least_score"], c["last_year_count"])
            for c in classes.values()] == [(1, 0.2, 120.0, 1), (2, 0.4, 100.0, 2),
                                           (0, 0.0, 80.0, 0), (2, 0.4, 0.0, 2)]
    assert classes["B"]["land_area_mu"] == 20.0
    assert classes["B"]["controlled_tce"] == near(122.9 + 184.35)

    head = doc["headroom"]
    assert isinstance(head, dict)
    ytd = 7_500_000 * 0.1229 / 1000  # every enterprise, evaluable or not: 921.75 tce
    assert head["monthly_tce"] == [near(ytd)] and head["ytd_tce"] == near(ytd)
    assert head["headroom_to_date_tce"] == near(12000 - ytd)
    assert head["allowance_to_date_tce"] == near(12000 * 31 / 365)
    assert head["projected_year_end_tce"] == near(ytd * 365 / 31)
    assert head["projected_headroom_tce"] == near(12000 - ytd * 365 / 31)
    assert head["warning_level"] == "yellow"  # projection 90.4 % of the quota
    assert doc["period"]["months"] == ["2026-01"]  # type: ignore[index]
    assert doc["period"]["label"] == "2026-01..2026-01"  # type: ignore[index]


def test_formats_carry_one_hash(report: JurisdictionReport) -> None:
    body, digest = jurisdiction_json(report)
    assert verify(body)
    csv_body, csv_digest = jurisdiction_csv(report)
    assert csv_digest == digest
    table = csv_body.decode().splitlines()
    assert table[0].startswith("rank,enterprise,name,industry")
    assert table[3].startswith("3,ent-3,Enterprise 3,C34,C34,true,100.0,B,100.0,B,0.0,")
    assert table[6].startswith(",ent-6,") and "site-6 land_area_mu" in table[6]
    assert all(line.endswith(digest) for line in table[1:])
    pdf = jurisdiction_pdf(report, digest)
    assert pdf.startswith(b"%PDF")
    published = json.loads((DOCS / "each-mu.schema.json").read_text())
    assert published == jurisdiction_schema(), \
        "run: plantstream reports schema --each-mu > docs/each-mu.schema.json"
    jsonschema.Draft202012Validator(published).validate(json.loads(body))
    broken = json.loads(body)
    del broken["ranking"][0]["score"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(published).validate(broken)


def test_incomplete_period_and_unknown_jurisdiction(influxd: InfluxD, database: str,
                                                    influxql: InfluxQL,
                                                    tmp_path: Path) -> None:
    loaded = load_report_config(write_configs(tmp_path, url=influxd.url, database=database))
    source = Source(client=influxql, kind="raw")
    with pytest.raises(ReportInputError, match="not complete"):
        build_jurisdiction_report(loaded, source, jurisdiction_id="county-x",
                                  period=parse_each_mu_period("2026"), today=TODAY)
    with pytest.raises(ReportInputError) as info:
        build_jurisdiction_report(loaded, source, jurisdiction_id="county-y",
                                  period=parse_each_mu_period("2026-01"), today=TODAY)
    assert info.value.status == 404
    with pytest.raises(ReportInputError, match="neither YYYY"):
        parse_each_mu_period("2026-Q1")


def test_financial_columns_for_the_evaluation_name_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("site,month,output_value_yuan,value_added_yuan_comparable,tax_paid_yuan,"
                    "employees,emission_so2_t\ns,2026-01,1,1,,3,0.5\ns,2026-02,1,1,5,x,1\n")
    with pytest.raises(DataImportError) as info:
        load_financials(path)
    assert (info.value.row, info.value.column) == (3, "employees")
    path.write_text("site,month,output_value_yuan,value_added_yuan_comparable,emission_SO2\n")
    with pytest.raises(DataImportError, match="emission_<pollutant>_t") as info:
        load_financials(path)
    assert (info.value.row, info.value.column) == (1, "emission_SO2")
    path.write_text("site,month,output_value_yuan,value_added_yuan_comparable,tax_paid_yuan,"
                    "employees,emission_so2_t\ns,2026-01,1,1,,3,0.5\n")
    [record] = load_financials(path)
    assert record.tax_paid_yuan is None and record.employees == 3.0
    assert record.emissions_t == (("so2", 0.5),)


def test_cli_writes_the_same_report(influxd: InfluxD, database: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    write_points(influxd.url, database, lines())
    config = write_configs(tmp_path, url=influxd.url, database=database)
    out = tmp_path / "county-x.json"
    assert main(["report", "each-mu", "--jurisdiction", "county-x", "--period", "2026-01",
                 "--config", str(config), "-o", str(out)]) == 0
    assert verify(out.read_bytes())
    digest = json.loads(out.read_bytes())["content_sha256"]
    assert f"content sha256 {digest}" in capsys.readouterr().err


def test_a_site_outside_its_jurisdictions_time_zone_is_a_config_error(tmp_path: Path) -> None:
    config = write_configs(tmp_path, url="http://127.0.0.1:9", database="unused")
    plant = tmp_path / "plant-ent-2.toml"
    plant.write_text(plant.read_text().replace('id = "site-2"\n',
                                               'id = "site-2"\ntimezone = "Asia/Tokyo"\n'))
    with pytest.raises(ConfigError, match="site 'site-2' is in Asia/Tokyo") as info:
        load_report_config(config)
    assert info.value.key == "each_mu"


def test_inputs_name_every_missing_site_month_and_column(tmp_path: Path) -> None:
    loaded = load_report_config(write_configs(tmp_path, url="http://127.0.0.1:9",
                                              database="unused"))
    assert loaded.each_mu is not None
    county = loaded.each_mu.jurisdiction("county-x")
    plant = loaded.enterprise("ent-2")
    assert county is not None and plant is not None
    financials = {(f.site, f.month): f for f in loaded.financials}
    inputs = enterprise_inputs(plant, county, financials, ["2026-01", "2026-02"],
                               {("site-2", "2026-01"): 122.9})
    assert inputs.tax_paid_yuan is None and inputs.controlled_tce is None
    assert inputs.missing["tax_paid_yuan"] == ("site-2 2026-02 (no row in the financials CSV)",)
    assert inputs.missing["controlled_tce"] == (
        "site-2 2026-02 measured energy (no energy points)",)
    one_month = enterprise_inputs(plant, county, financials, ["2026-01"],
                                  {("site-2", "2026-01"): 122.9})
    assert one_month.missing == {}
    assert (one_month.land_area_mu, one_month.tax_paid_yuan, one_month.employees,
            one_month.emissions_t) == (10.0, 1_500_000.0, 100.0, 5.0)
