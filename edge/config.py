"""Edge agent configuration (TOML), validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from plantstream.config import MqttConfig, load_toml
from plantstream.edge.sources import SourceConfig
from plantstream.edge.sparkplug_out import SparkplugOut
from plantstream.wire import Id

__all__ = ["ClockConfig", "EdgeConfig", "GatewaySettings", "load_edge_config"]


class GatewaySettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: Id
    site: Id
    flush_interval_s: Annotated[int, msgspec.Meta(ge=1, le=60)] = 10
    state_dir: str = "/var/lib/plantstream-edge"
    health_interval_s: Annotated[float, msgspec.Meta(ge=0.1)] = 5.0
    max_inflight: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 64
    # disk queue bound; beyond it raw samples are shed first (see plantstream.edge.queue)
    max_queue_mb: Annotated[float, msgspec.Meta(gt=0)] = 512.0
    # free space the queue leaves on its filesystem: below it, it sheds like over the bound
    reserve_free_mb: Annotated[float, msgspec.Meta(ge=0)] = 16.0
    # acknowledged batches are republished after a reconnect within this window
    keep_acked_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # share of each publish window given to the backlog while live data flows
    backlog_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    compress: bool = False  # gzip batch payloads (ingest detects the gzip header)
    # after a reconnect, republish the acknowledged batches of the last keep_acked_s again
    # this much later (0: never), in case the broker lost ingest's subscription
    republish_again_s: Annotated[float, msgspec.Meta(ge=0)] = 15.0


class ClockConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Simulation only: run time faster than the wall clock from a given start."""

    speedup: Annotated[float, msgspec.Meta(gt=0, le=100_000)] = 1.0
    start_ms: int | None = None  # epoch ms; default: now


class EdgeConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    gateway: GatewaySettings
    mqtt: MqttConfig
    sources: list[SourceConfig]
    clock: ClockConfig = ClockConfig()
    # also publish the machines as a Sparkplug B edge node (see edge/sparkplug_out.py)
    sparkplug: SparkplugOut | None = None

    def __post_init__(self) -> None:
        if 60 % self.gateway.flush_interval_s:
            raise msgspec.ValidationError(
                "flush_interval_s must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)"
                " - at `$.gateway.flush_interval_s`")

    @property
    def state_path(self) -> Path:
        return Path(self.gateway.state_dir)


def load_edge_config(path: str | Path) -> EdgeConfig:
    return load_toml(path, EdgeConfig)
