"""Configuration shared by every part: plant asset registry, MQTT, secrets, loading.

Configuration is read once at start-up into frozen structs. Unknown keys are errors
and every error names the dotted key (`ConfigError.key`), so a typo never vanishes.
Durations are seconds in keys ending `_s`; secrets are `Secret`, never in logs.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from plantstream.calendar import ShiftPlan
from plantstream.errors import ConfigError
from plantstream.wire import Id

__all__ = [
    "DEFAULT_STATE_MODEL",
    "Element",
    "Enterprise",
    "Gateway",
    "IngestLimits",
    "Line",
    "Machine",
    "MqttConfig",
    "OeeSettings",
    "PlantConfig",
    "Secret",
    "Site",
    "SiteLimits",
    "StateDef",
    "TlsConfig",
    "config_hash",
    "convert",
    "load_plant",
    "load_toml",
    "to_toml",
]

# ISO 22400-2 time elements a machine state maps to. PLANNED_DOWN is inside POT but
# outside PBT (planned maintenance, breaks); NOT_PLANNED is outside POT (no shift).
Element = Literal["APT", "ASUT", "ADET", "ADOT", "PLANNED_DOWN", "NOT_PLANNED"]

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class Secret(str):
    """A string that never shows itself in a repr, a log line or an error."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:  # str(secret) in an f-string must not leak either
        return "***"

    def reveal(self) -> str:
        return str.__str__(self)


class StateDef(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    code: Annotated[int, msgspec.Meta(ge=0)]
    name: str
    element: Element
    minor_stop_candidate: bool = False  # a stop that counts as minor below the threshold


# UMH-style codes (active 10000-29999, unknown 30000-59999, then material, process,
# operator, planning, technical). Issue #3 owns the full import of code ranges.
DEFAULT_STATE_MODEL: Final[tuple[StateDef, ...]] = (
    StateDef(code=10000, name="producing", element="APT"),
    StateDef(code=20000, name="producing_reduced_speed", element="APT"),
    StateDef(code=30000, name="unknown", element="ADET"),
    StateDef(code=40000, name="unspecified_stop", element="ADET", minor_stop_candidate=True),
    StateDef(code=50000, name="microstop", element="ADET", minor_stop_candidate=True),
    StateDef(code=60000, name="material_shortage", element="ADOT"),
    StateDef(code=110000, name="changeover", element="ASUT"),
    StateDef(code=140000, name="setting_up", element="ASUT"),
    StateDef(code=160000, name="operator_break", element="PLANNED_DOWN"),
    StateDef(code=170000, name="no_shift", element="NOT_PLANNED"),
    StateDef(code=180000, name="no_order", element="ADOT"),
    StateDef(code=190000, name="equipment_failure", element="ADET"),
    StateDef(code=220000, name="planned_maintenance", element="PLANNED_DOWN"),
)


PositiveArea = Annotated[float, msgspec.Meta(gt=0)]


class Enterprise(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    name: str
    jurisdiction: Id = "default"
    industry: str = ""  # industry code (GB/T 4754, e.g. "C34"): the benchmark group


class SiteLimits(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """When the site's operators are alerted (rendered into the Grafana alert rules,
    docs/dashboards.md). Defaults are sane starting points, not a standard."""

    # a gateway from which no batch arrived for this long is silent
    gateway_silent_s: PositiveSeconds = 300.0
    # the oldest batch waiting in a gateway's disk queue (its own health report)
    backlog_age_s: PositiveSeconds = 900.0
    # a machine in a downtime element (ADET) for this long in planned busy time
    long_stop_min: Annotated[float, msgspec.Meta(ge=10)] = 45.0
    # an energy meter that sent no reading for this long while its gateway still reports
    meter_silent_s: Annotated[float, msgspec.Meta(ge=300, le=7200)] = 900.0
    # jitter steps (small backward steps of the register rule) of one meter in 15 minutes
    # above which it alerts: read-out noise well beyond a count now and then; any reset or
    # rejected impossible jump alerts regardless
    meter_jitter_per_15min: Annotated[int, msgspec.Meta(ge=1)] = 120
    # the dual-control warning level (green < yellow < orange < red) that alerts
    dual_control_level: Literal["yellow", "orange", "red"] = "orange"


class Site(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    name: str = ""
    timezone: str = "Asia/Shanghai"
    # land in mu (1 mu = 666.67 m2) the "Each Mu is a Hero" evaluation divides by; the
    # land-use certificate area and the built floor area are informative
    land_area_mu: PositiveArea | None = None
    land_certificate_area_mu: PositiveArea | None = None
    floor_area_m2: PositiveArea | None = None
    limits: SiteLimits = SiteLimits()


class Line(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    site: Id
    name: str = ""
    # the line's OEE target: an alert when the OEE of the last hour is below it
    oee_target: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.6


class IngestLimits(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """When the ingest tier alerts (rendered into the Grafana alert rules)."""

    # seconds between now and the newest batch end a worker has written
    lag_s: PositiveSeconds = 300.0
    # dead letters of one reason in 10 minutes above which ingest alerts (0: any)
    dead_letters_per_10min: Annotated[int, msgspec.Meta(ge=0)] = 0


class Gateway(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    site: Id


class Machine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    line: Id
    gateway: Id
    ideal_cycle_s: dict[str, PositiveSeconds] = {}  # PRU per product
    # picks the plausibility limits ingest applies (`[plausibility.limits.<class>]`)
    device_class: Id = "default"
    # the site's main incoming meter (utility side): its energy is the site's measured
    # total, written apart (`energy_main`) so that it never adds to the sum of the
    # sub-meters; the report's data quality checks the two against each other
    main_meter: bool = False


class OeeSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    model: Literal["iso22400", "tpm"] = "iso22400"
    minor_stop_threshold_s: PositiveSeconds = 120.0


class PlantConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, dict=True):
    """The asset registry: who exists, where, and the static rules KPIs need."""

    enterprise: Enterprise
    sites: list[Site]
    lines: list[Line]
    gateways: list[Gateway]
    machines: list[Machine]
    oee: OeeSettings = OeeSettings()
    ingest_limits: IngestLimits = IngestLimits()
    states: list[StateDef] = msgspec.field(default_factory=lambda: list(DEFAULT_STATE_MODEL))
    # the shift calendar live KPIs use (breaks and no-shift time outside PBT); None:
    # every instant is planned and the state alone decides
    calendar: ShiftPlan | None = None
    # the language of the Grafana alert rules (titles, summaries, runbook lines): one per
    # plant, since rules provisioned twice would fire twice (docs/dashboards.md)
    alert_lang: Literal["en", "zh-CN"] = "en"

    def __post_init__(self) -> None:
        _unique("sites", [s.id for s in self.sites])
        _unique("lines", [x.id for x in self.lines])
        _unique("gateways", [g.id for g in self.gateways])
        _unique("machines", [m.id for m in self.machines])
        _unique("states", [str(s.code) for s in self.states])
        site_ids = {s.id for s in self.sites}
        line_ids = {x.id for x in self.lines}
        gateways = {g.id: g for g in self.gateways}
        lines = {x.id: x for x in self.lines}
        for i, line in enumerate(self.lines):
            if line.site not in site_ids:
                raise msgspec.ValidationError(
                    f"unknown site {line.site!r} - at `$.lines[{i}].site`")
        for i, gw in enumerate(self.gateways):
            if gw.site not in site_ids:
                raise msgspec.ValidationError(
                    f"unknown site {gw.site!r} - at `$.gateways[{i}].site`")
        for i, m in enumerate(self.machines):
            if m.line not in line_ids:
                raise msgspec.ValidationError(
                    f"unknown line {m.line!r} - at `$.machines[{i}].line`")
            if m.gateway not in gateways:
                raise msgspec.ValidationError(
                    f"unknown gateway {m.gateway!r} - at `$.machines[{i}].gateway`")
            if gateways[m.gateway].site != lines[m.line].site:
                raise msgspec.ValidationError(
                    f"gateway {m.gateway!r} is on another site than line {m.line!r}"
                    f" - at `$.machines[{i}].gateway`")

    # Look-ups built once per configuration on first use (`dict=True` lets
    # cached_property store them; the fields stay frozen).
    @functools.cached_property
    def _machines_by_id(self) -> dict[str, Machine]:
        return {m.id: m for m in self.machines}

    @functools.cached_property
    def gateway_sites(self) -> dict[str, str]:
        """Gateway id -> its site id."""
        return {g.id: g.site for g in self.gateways}

    @functools.cached_property
    def main_meters(self) -> frozenset[str]:
        """Ids of the machines that are main incoming meters."""
        return frozenset(m.id for m in self.machines if m.main_meter)

    def machine(self, machine_id: str) -> Machine | None:
        return self._machines_by_id.get(machine_id)

    def line_of(self, machine_id: str) -> str:
        m = self._machines_by_id.get(machine_id)
        return m.line if m else ""

    def machines_of_gateway(self, gateway_id: str) -> list[Machine]:
        return [m for m in self.machines if m.gateway == gateway_id]

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)


def _unique(section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise msgspec.ValidationError(f"duplicate id {value!r} - at `$.{section}[{i}]`")
        seen.add(value)


class TlsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None


class MqttConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 1883
    username: str | None = None
    password: Secret | None = None
    tls: TlsConfig | None = None
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    topic_root: Id = "plantstream"


T = TypeVar("T")

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"unknown field `(?P<field>[^`]+)`")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Secret and isinstance(obj, str):
        return Secret(obj)
    raise NotImplementedError(type_)


def convert(data: Mapping[str, Any], type_: type[T], *, source: str) -> T:
    """Build a config struct from parsed TOML/JSON, mapping errors to `ConfigError`."""
    try:
        return msgspec.convert(data, type_, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        message = match.group("msg") if match else str(exc)
        path = (match.group("path") or "") if match else ""
        for pattern in (_UNKNOWN, _MISSING):
            field = pattern.search(message)
            if field:
                path = f"{path}.{field.group('field')}"
        key = path.lstrip(".") or "<root>"
        raise ConfigError(source=source, key=key, reason=message) from None


def load_toml(path: str | Path, type_: type[T]) -> T:
    """Read a TOML file into a config struct; every failure is a `ConfigError`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source=str(path), key="<file>", reason="file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source=str(path), key="<file>", reason=f"not TOML: {exc}") from None
    return convert(data, type_, source=str(path))


def load_plant(path: str | Path) -> PlantConfig:
    return load_toml(path, PlantConfig)


def _without_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def to_toml(config: object) -> bytes:
    """A configuration struct as a TOML document (TOML has no null: unset optional
    keys are left out, which reads back as their default). Needs tomli-w."""
    return msgspec.toml.encode(_without_none(msgspec.to_builtins(config)))


def config_hash(config: msgspec.Struct) -> str:
    """A short, stable hash of a configuration (secrets included only as a hash)."""
    encoded = msgspec.json.encode(msgspec.to_builtins(config, enc_hook=_enc_secret),
                                  order="sorted")
    return hashlib.sha256(encoded).hexdigest()[:16]


def _enc_secret(obj: Any) -> Any:
    if isinstance(obj, Secret):
        return hashlib.sha256(obj.reveal().encode()).hexdigest()
    raise NotImplementedError(type(obj))
