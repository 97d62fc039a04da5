"""Where ingest writes line protocol: InfluxDB v1 `/write` (and v2, issue #5)."""

from plantstream.ingest.sinks.influx_v1 import InfluxV1Sink

__all__ = ["InfluxV1Sink"]
