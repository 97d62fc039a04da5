"""The naive MQTT -> InfluxDB bridge the ingest benchmark compares with.

What a typical script does: paho-mqtt subscribes, and for every message (one sample)
`json.loads` it, builds one influxdb-client `Point` and writes it synchronously, one
HTTP request per point. InfluxDB 1.6 has no `/api/v2/write`, so the point's line
protocol (`Point.to_line_protocol()`) goes to the v1 `/write` through the store's LineWriter with a
kept-alive connection (against InfluxDB 1.8+ the same script would use
`InfluxDBClient(...).write_api(write_options=SYNCHRONOUS)`; the per-request cost is
the same). Run as `python -m plantstream.bench.naive_bridge ...`; it prints one JSON
line with what it wrote and for how long.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision
from paho.mqtt.enums import CallbackAPIVersion

from plantstream.errors import StoreError
from plantstream.store.writer import LineWriter

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="naive_bridge")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--seconds", type=float, required=True,
                        help="run this long after the first message")
    args = parser.parse_args(argv)
    writer = LineWriter(url=args.url, database=args.database)  # one request per write
    state = {"written": 0, "errors": 0, "first": 0.0}
    ready = threading.Event()

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: object,
                   properties: object) -> None:
        client.subscribe(args.topic, qos=1)
        ready.set()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        if not state["first"]:
            state["first"] = time.monotonic()
        sample = json.loads(message.payload)
        point = Point("naive_sample")  # type: ignore[no-untyped-call]
        point.tag("machine", sample["machine"])  # type: ignore[no-untyped-call]
        point.tag("signal", sample["signal"])  # type: ignore[no-untyped-call]
        point.field("value", float(sample["value"]))  # type: ignore[no-untyped-call]
        point.time(sample["t_ms"], WritePrecision.MS)  # type: ignore[no-untyped-call]
        line = point.to_line_protocol()  # type: ignore[no-untyped-call]
        try:
            writer.write_body(line.encode())
            state["written"] += 1
        except StoreError:
            state["errors"] += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="naive-bridge",
                         protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    ready.wait(10)
    print(json.dumps({"ready": True}), flush=True)
    while not state["first"]:
        time.sleep(0.01)
    while time.monotonic() - state["first"] < args.seconds:
        time.sleep(0.05)
    client.on_message = None
    elapsed = time.monotonic() - state["first"]
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"written": state["written"], "errors": state["errors"],
                      "seconds": elapsed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
