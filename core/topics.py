"""The MQTT topic layout, version in the path so v2 can coexist.

    {root}/v1/{site}/{gateway}/batch      QoS 1, one batch per message
    {root}/v1/{site}/{gateway}/status     retained birth; the will carries death
    {root}/v1/{site}/{gateway}/health     link health, QoS 0
    {root}/v1/{site}/{gateway}/cmd        commands to the gateway (read-only for it)
    {root}/v1/deadletter/{site}/{gateway} what ingest could not accept, with the reason

Site and gateway are in the path so a broker ACL (`%u`-style patterns) can confine
each gateway to its own topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_ROOT", "GatewayTopics", "Topics"]

DEFAULT_ROOT: Final = "plantstream"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayTopics:
    batch: str
    status: str
    health: str
    cmd: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Topics:
    root: str = DEFAULT_ROOT

    @property
    def base(self) -> str:
        return f"{self.root}/v1"

    def gateway(self, *, site: str, gateway: str) -> GatewayTopics:
        prefix = f"{self.base}/{site}/{gateway}"
        return GatewayTopics(batch=f"{prefix}/batch", status=f"{prefix}/status",
                             health=f"{prefix}/health", cmd=f"{prefix}/cmd")

    @property
    def all_batches(self) -> str:
        return f"{self.base}/+/+/batch"

    @property
    def all_health(self) -> str:
        return f"{self.base}/+/+/health"

    def shared(self, group: str, topic_filter: str) -> str:
        """An MQTT v5 shared subscription: the group's members split the messages."""
        return f"$share/{group}/{topic_filter}"

    def deadletter(self, *, site: str, gateway: str) -> str:
        return f"{self.base}/deadletter/{site or '_'}/{gateway or '_'}"

    def parse_gateway_topic(self, topic: str) -> tuple[str, str, str] | None:
        """`(site, gateway, kind)` of a gateway topic, or None if it is not one."""
        parts = topic.split("/")
        root_parts = self.base.split("/")
        if len(parts) != len(root_parts) + 3 or parts[: len(root_parts)] != root_parts:
            return None
        site, gateway, kind = parts[len(root_parts):]
        if site == "deadletter":
            return None
        return site, gateway, kind
