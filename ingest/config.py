"""Ingest worker configuration (TOML), validated once at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import msgspec

from plantstream.config import MqttConfig, PlantConfig, load_plant, load_toml
from plantstream.errors import ConfigError
from plantstream.store.config import InfluxConfig
from plantstream.wire import Id

__all__ = ["BatchingConfig", "DeviceLimits", "InfluxConfig", "IngestConfig",
           "PlausibilityConfig", "RollupConfig", "SpoolConfig", "TakeoverConfig",
           "load_ingest_config"]


class BatchingConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    max_messages: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    max_delay_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 200
    # MQTT v5 Receive Maximum: unacknowledged messages the broker may send us
    max_inflight: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 1000
    # micro-batches written concurrently; the next one is decoded and computed meanwhile
    max_writes_in_flight: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    max_payload_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 8 * 1024 * 1024


class DeviceLimits(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Physical maximum rates of one device class, averaged over a batch interval. A key
    left out falls back to the `default` class, then to the built-in default."""

    max_parts_per_s: Annotated[float, msgspec.Meta(gt=0, le=1e9)] | None = None
    # per energy carrier, in the meter's unit per second (kWh/s for electricity)
    max_meter_per_s: dict[str, Annotated[float, msgspec.Meta(gt=0, le=1e12)]] = {}
    max_other_meter_per_s: Annotated[float, msgspec.Meta(gt=0, le=1e12)] | None = None


class PlausibilityConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`[plausibility]`: what ingest accepts as physically possible (docs/wire-format.md).

    A batch may be at most `max_past_s` old (the gateway's backlog allowance) and end at
    most `max_future_s` ahead of ingest's clock (clock skew); per device class (the
    machine's `device_class` in the plant file), counts and meter deltas may not exceed a
    maximum rate."""

    max_past_s: Annotated[float, msgspec.Meta(gt=0)] = 366 * 86_400.0
    max_future_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    max_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 86_400.0
    limits: dict[str, DeviceLimits] = {}


class TakeoverConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`[takeover]`: a surviving worker drains the session of a worker that died and
    did not come back (plantstream.ingest.takeover)."""

    enabled: bool = True
    after_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0  # grace for a restart
    idle_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0  # nothing arrived: session drained


class SpoolConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where points wait while InfluxDB is down (see plantstream.ingest.spool). Each
    worker has its own file, `<directory>/spool-<worker>.sqlite`."""

    directory: str = "/var/lib/plantstream-ingest"
    max_bytes: Annotated[int, msgspec.Meta(ge=1024 * 1024)] = 1024**3
    after_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3  # failed writes, then spool


class RollupConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`[rollup]`: the KPI rollup job and late-batch marking (docs/rollups.md)."""

    shift_starts: list[str] = msgspec.field(default_factory=lambda: ["00:00", "08:00", "16:00"])
    grace_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0  # roll a window this long after its end
    late_after_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0  # lag that marks a batch late
    interval_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0  # how often the job runs
    lookback_s: Annotated[float, msgspec.Meta(gt=0)] = 35 * 86400.0  # dirty markers read back


class IngestConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    plant: str  # path of the plant configuration (asset registry)
    mqtt: MqttConfig = MqttConfig()
    influx: InfluxConfig = InfluxConfig()
    batching: BatchingConfig = BatchingConfig()
    spool: SpoolConfig = SpoolConfig()
    plausibility: PlausibilityConfig = PlausibilityConfig()
    takeover: TakeoverConfig = TakeoverConfig()
    group: Id = "ingest"
    worker: Id = "ingest-1"  # client id: a restarted worker resumes its MQTT session
    write_raw_samples: bool = True

    @property
    def spool_path(self) -> Path:
        return Path(self.spool.directory) / f"spool-{self.worker}.sqlite"
    rollup: RollupConfig = RollupConfig()


def load_ingest_config(path: str | Path, *,
                       worker: str | None = None) -> tuple[IngestConfig, PlantConfig]:
    """Read the ingest configuration and its plant file; `worker` overrides the worker
    id (replicas of one configuration need distinct MQTT client ids)."""
    config = load_toml(path, IngestConfig)
    if worker:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", worker):  # `Id`: an MQTT client id
            raise ConfigError(source="--worker", key="worker",   # and a topic level
                              reason=f"{worker!r} is not 1-64 of [A-Za-z0-9_.-]")
        config = msgspec.structs.replace(config, worker=worker)
    plant_path = Path(config.plant)
    if not plant_path.is_absolute():
        plant_path = Path(path).parent / plant_path
    return config, load_plant(plant_path)
