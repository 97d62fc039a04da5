"""The report configuration: a frozen TOML model read once at start-up.

Relative paths (plant configs, financial CSV, audit log, coefficient table) are
relative to the configuration file. Regulators' bearer tokens are stored as SHA-256
hashes only (`plantstream reports hash-token` prints one); a token in clear never
appears in the configuration, a log line or the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from plantstream.analytics import (
    CoefficientTable,
    FinancialRecord,
    LimitGrades,
    load_coefficients,
    load_financials,
)
from plantstream.config import (
    IngestLimits,
    Line,
    PlantConfig,
    Secret,
    Site,
    SiteLimits,
    config_hash,
    load_plant,
    load_toml,
)
from plantstream.errors import ConfigError
from plantstream.i18n import Lang
from plantstream.reports.mu.config import EachMuConfig, load_each_mu
from plantstream.store.influxql import InfluxQL
from plantstream.wire import Id

__all__ = [
    "CarrierRoles",
    "InfluxSettings",
    "LoadedConfig",
    "ProductLimits",
    "Quota",
    "RateLimit",
    "Regulator",
    "ReportConfig",
    "Role",
    "hash_token",
    "load_report_config",
]

Role = Literal["controlled", "feedstock", "renewable_certified", "sent_off_site"]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
Positive = Annotated[float, msgspec.Meta(gt=0)]
Share = Annotated[float, msgspec.Meta(gt=0, le=1)]


class InfluxSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str = "http://127.0.0.1:8086"
    database: str = "plantstream"
    # an InfluxDB with authentication on: a v1 user that may read the database (basic
    # auth; for InfluxDB 3 / Cloud the token is the password). Both or neither.
    username: str | None = None
    password: Secret | None = None
    # "raw": daily figures from `energy`/`production` (GROUP BY time(1d) in the site's
    # zone); "rollup": from `energy_1d`/`production_1d` (plantstream.rollups.energy).
    source: Literal["raw", "rollup"] = "raw"
    # the monthly totals the daily values are checked against: sums of the raw points
    # (exact, reads every raw point of the period), or the `energy_1mo` rollup (cheap;
    # months the period covers only in part are still checked against the raw points)
    monthly_check: Literal["raw", "rollup"] = "raw"
    timeout_s: Positive = 30.0

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise msgspec.ValidationError(
                "username and password go together - at `$.influx`")

    def client(self, *, timeout_s: float | None = None) -> InfluxQL:
        """An InfluxQL client with these settings (and credentials)."""
        return InfluxQL(url=self.url, database=self.database, username=self.username,
                        password=self.password.reveal() if self.password else None,
                        timeout_s=timeout_s or self.timeout_s)


class CarrierRoles(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How carriers count (DOMAIN.md section 2). Carriers not listed are controlled."""

    feedstock: list[Id] = []
    renewable_certified: list[Id] = []
    sent_off_site: list[Id] = []
    # carrier as measured -> row of the coefficient table (e.g. green_power -> electricity)
    coefficient_of: dict[str, str] = {}

    def role(self, carrier: str) -> Role:
        if carrier in self.feedstock:
            return "feedstock"
        if carrier in self.renewable_certified:
            return "renewable_certified"
        if carrier in self.sent_off_site:
            return "sent_off_site"
        return "controlled"


class ProductLimits(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A product with a limit standard: grade number -> max kgce per unit.

    `lines` is the energy boundary of the product (all machines of those lines); empty
    means the whole site.
    """

    product: Id
    unit: str
    grades: dict[str, Positive]
    standard: str = ""
    lines: list[Id] = []

    def limit_grades(self) -> LimitGrades:
        grades: dict[int, float | None] = {}
        for key, value in self.grades.items():
            if not key.isdigit() or int(key) < 1:
                raise ConfigError(source="report config", key=f"products.grades.{key}",
                                  reason="grade keys are numbers from 1")
            grades[int(key)] = value
        for missing in range(1, max(grades) + 1):
            grades.setdefault(missing, None)
        return LimitGrades(product=self.product, unit=self.unit, grades=grades)


class Quota(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Dual-control targets of a site or enterprise (`scope`) for one year."""

    scope: Id
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    annual_tce: Positive
    intensity_target_tce_per_10k_yuan: Positive | None = None
    seasonal_profile: list[float] | None = None


class Regulator(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    name: str
    token_sha256: Sha256Hex
    scope: list[Id]  # enterprise ids and / or site ids
    expires: dt.datetime | None = None  # timezone-aware; None: no expiry
    revoked: bool = False
    # the language of its CSV labels and PDFs ("en" or "zh-CN"), unless a request asks
    # for another with Accept-Language; the JSON is the same in every language
    lang: Lang = "en"

    def __post_init__(self) -> None:
        if self.expires is not None and self.expires.tzinfo is None:
            raise msgspec.ValidationError("expires needs a time zone (e.g. Z) - at `$.expires`")


class RateLimit(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A token bucket per key (in-process: one bucket set per server process): per
    regulator for `rate_limit`, per client address for `auth_failure_limit`."""

    per_minute: Positive = 60.0
    burst: Annotated[int, msgspec.Meta(ge=1)] = 20


class ReportConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    plants: list[str]  # PlantConfig TOML files
    influx: InfluxSettings = InfluxSettings()
    financials: str | None = None  # CSV: site,month,output_value_yuan,value_added_...
    base_year: int | None = None
    coefficients: str | None = None  # a coefficient table; None: the packaged one
    grid_year: int = 2023
    electricity_basis: Literal["equivalent", "equal_value"] = "equivalent"
    equal_value_kgce_per_kwh: Positive | None = None
    natural_gas_lhv_kj_per_m3: Positive | None = None
    coefficient_overrides: dict[str, Positive] = {}
    carriers: CarrierRoles = CarrierRoles()
    products: list[ProductLimits] = []
    quotas: list[Quota] = []
    completeness_threshold: Share = 0.90
    daily_monthly_tolerance: Share = 0.05
    # the largest share by which a site's sub-meters may differ from its main incoming
    # meter (losses, unmetered loads) before data quality flags the site; per carrier
    # in `meter_balance_tolerances` (carrier -> share), this one otherwise
    meter_balance_tolerance: Share = 0.05
    meter_balance_tolerances: dict[str, Share] = {}
    realtime_interval_min: Literal[15, 30, 60] = 15
    regulators: list[Regulator] = []
    audit_log: str = "audit.jsonl"
    rate_limit: RateLimit = RateLimit()
    # refused requests (401, 403, 404, 422, 429) and server errors, one JSON line each
    security_log: str = "security.jsonl"
    # failed authentications per client address; when spent, the address gets 429s
    auth_failure_limit: RateLimit = RateLimit(per_minute=10.0, burst=10)
    each_mu: str | None = None  # the "Each Mu is a Hero" evaluation (reports/mu/config.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedConfig:
    """The configuration with everything it points to read and checked."""

    config: ReportConfig
    base_dir: Path
    plants: tuple[PlantConfig, ...]
    coefficients: CoefficientTable
    financials: tuple[FinancialRecord, ...]
    limits: Mapping[str, LimitGrades]
    config_hash: str
    each_mu: EachMuConfig | None = None

    def path(self, relative: str) -> Path:
        return (self.base_dir / relative).resolve()

    @property
    def audit_path(self) -> Path:
        return self.path(self.config.audit_log)

    @property
    def security_log_path(self) -> Path:
        return self.path(self.config.security_log)

    def site(self, site_id: str) -> tuple[PlantConfig, Site] | None:
        for plant in self.plants:
            site = plant.site(site_id)
            if site is not None:
                return plant, site
        return None

    def enterprise(self, enterprise_id: str) -> PlantConfig | None:
        return next((p for p in self.plants if p.enterprise.id == enterprise_id), None)

    def quota(self, scope: str, year: int) -> Quota | None:
        return next((q for q in self.config.quotas if q.scope == scope and q.year == year),
                    None)


def _figures_hash(figures_only: ReportConfig) -> str:
    """`config_hash` of the report configuration without the access settings added
    after the hash was defined (security log, authentication-failure limit), so that
    adding them changed no report's hash."""
    figures = msgspec.to_builtins(figures_only)
    for key in ("security_log", "auth_failure_limit"):
        del figures[key]
    return hashlib.sha256(msgspec.json.encode(figures, order="sorted")).hexdigest()[:16]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_report_config(path: str | Path) -> LoadedConfig:
    path = Path(path).resolve()
    config = load_toml(path, ReportConfig)
    base = path.parent
    plants = tuple(load_plant(base / p) for p in config.plants)
    source = str(path)
    if not plants:
        raise ConfigError(source=source, key="plants", reason="at least one plant config")
    seen_sites: set[str] = set()
    enterprises: set[str] = set()
    for plant in plants:
        if plant.enterprise.id in enterprises:
            raise ConfigError(source=source, key="plants",
                              reason=f"enterprise {plant.enterprise.id!r} twice")
        enterprises.add(plant.enterprise.id)
        for site in plant.sites:
            if site.id in seen_sites or site.id in enterprises:
                raise ConfigError(source=source, key="plants",
                                  reason=f"site id {site.id!r} is not unique")
            seen_sites.add(site.id)
    known = seen_sites | enterprises
    for i, quota in enumerate(config.quotas):
        if quota.scope not in known:
            raise ConfigError(source=source, key=f"quotas[{i}].scope",
                              reason=f"{quota.scope!r} is no site or enterprise")
    for i, reg in enumerate(config.regulators):
        for entry in reg.scope:
            if entry not in known:
                raise ConfigError(source=source, key=f"regulators[{i}].scope",
                                  reason=f"{entry!r} is no site or enterprise")
    if len({r.id for r in config.regulators}) != len(config.regulators):
        raise ConfigError(source=source, key="regulators", reason="duplicate regulator id")
    table = load_coefficients(
        base / config.coefficients if config.coefficients else None,
        grid_year=config.grid_year, overrides=dict(config.coefficient_overrides) or None,
        natural_gas_lhv_kj_per_m3=config.natural_gas_lhv_kj_per_m3,
        electricity_basis=config.electricity_basis,
        equal_value_kgce_per_kwh=config.equal_value_kgce_per_kwh)
    for carrier, row in config.carriers.coefficient_of.items():
        if row not in table.carriers:
            raise ConfigError(source=source, key=f"carriers.coefficient_of.{carrier}",
                              reason=f"no coefficient row {row!r}")
    for carrier in config.meter_balance_tolerances:
        if carrier not in table.carriers and carrier not in config.carriers.coefficient_of:
            raise ConfigError(source=source, key=f"meter_balance_tolerances.{carrier}",
                              reason=f"unknown carrier {carrier!r}")
    financials = tuple(load_financials(base / config.financials)) if config.financials else ()
    limits: dict[str, LimitGrades] = {}
    line_owners: dict[str, set[str]] = {}
    for plant in plants:
        for line in plant.lines:
            line_owners.setdefault(line.id, set()).add(plant.enterprise.id)
    for i, product in enumerate(config.products):
        for line_id in product.lines:
            owners = sorted(line_owners.get(line_id, ()))
            if len(owners) != 1:  # a report lists a product only with its scope's lines
                raise ConfigError(source=source, key=f"products[{i}].lines", reason=(
                    f"line {line_id!r} is no configured line" if not owners else
                    f"line id {line_id!r} is used by enterprises {', '.join(owners)}"))
        if product.product in limits:
            raise ConfigError(source=source, key="products",
                              reason=f"product {product.product!r} twice")
        limits[product.product] = product.limit_grades()
    each_mu = load_each_mu(base / config.each_mu) if config.each_mu else None
    if each_mu is not None:
        for plant in plants:
            j = each_mu.jurisdiction(plant.enterprise.jurisdiction)
            wrong = [s for s in plant.sites if j is not None and s.timezone != j.timezone]
            if j is not None and wrong:
                raise ConfigError(source=source, key="each_mu", reason=(
                    f"site {wrong[0].id!r} is in {wrong[0].timezone}, its jurisdiction "
                    f"{j.id!r} evaluates months in {j.timezone}"))
    # The configuration hash covers everything the figures depend on besides the data:
    # this file without where the data lives and who may pull it (InfluxDB address,
    # regulators, audit log, rate limit), the plant configs, the financial CSV bytes and
    # the coefficient table. Adding a regulator, or changing an alert threshold of the
    # plant (sites' limits, lines' OEE targets, ingest limits), changes no report's hash.
    figures_only = msgspec.structs.replace(
        config, influx=InfluxSettings(source=config.influx.source,
                                      monthly_check=config.influx.monthly_check),
        regulators=[], audit_log="", rate_limit=RateLimit(), realtime_interval_min=15)
    parts = [_figures_hash(figures_only), *(config_hash(_figures_plant(p)) for p in plants),
             hashlib.sha256((base / config.financials).read_bytes()).hexdigest()
             if config.financials else "", repr(table)]
    if config.each_mu:  # the evaluation file (weights, benchmarks, classes, quotas)
        parts.append(hashlib.sha256((base / config.each_mu).read_bytes()).hexdigest())
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return LoadedConfig(config=config, base_dir=base, plants=plants, coefficients=table,
                        financials=financials, limits=limits, config_hash=digest,
                        each_mu=each_mu)


_OEE_TARGET_DEFAULT = next(f.default for f in msgspec.structs.fields(Line)
                           if f.name == "oee_target")


def _figures_plant(plant: PlantConfig) -> PlantConfig:
    """The plant without what only the alert rules read (no figure depends on it)."""
    return msgspec.structs.replace(
        plant, ingest_limits=IngestLimits(),
        sites=[msgspec.structs.replace(s, limits=SiteLimits()) for s in plant.sites],
        lines=[msgspec.structs.replace(x, oee_target=_OEE_TARGET_DEFAULT)
               for x in plant.lines])
