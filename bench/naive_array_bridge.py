"""The naive ARRAY bridge the ingest benchmark compares with: what a competent engineer
wires up by hand for the same wire-format v1 messages ingest reads.

paho-mqtt subscribes (QoS 1, a persistent session, so a backlog published before it runs
is waiting for it); each message is parsed with orjson and turned into line protocol with
f-strings: one point per machine and sample time with a field per signal (the cheapest
shape InfluxDB stores); the bodies go to two writer threads that POST them through the
store's `LineWriter` (kept-alive HTTP, no gzip). No validation, no KPIs, no late
acknowledgement: paho acknowledges on receipt, so a crash loses what is in memory.

Run as `python -m plantstream.bench.naive_array_bridge ... --prepare` once to create its
session (then the backlog is published), and again without `--prepare`: it stops when
`--expect-samples` are stored (or nothing arrived for `--idle-s`) and prints one JSON
line: samples stored, seconds from the first message to the last stored body, CPU s.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from plantstream.errors import StoreError
from plantstream.store.writer import LineWriter

__all__ = ["lines_of", "main"]


def lines_of(batch: dict[str, Any]) -> tuple[str, int]:
    """Line protocol of one batch (wide points) and the samples in it."""
    t0 = batch["t_start_ms"]
    site = batch["site"]
    out: list[str] = []
    n = 0
    for m in batch["machines"]:
        rows: dict[int, list[str]] = {}
        for s in m.get("samples", ()):
            name = s["signal"]
            for off, v in zip(s["offsets_ms"], s["values"], strict=True):
                if v is not None:
                    rows.setdefault(off, []).append(f"{name}={float(v)}")
                    n += 1
        prefix = f"naive_sample,site={site},machine={m['machine']} "
        out.extend(f"{prefix}{','.join(fields)} {t0 + off}" for off, fields in rows.items())
    return "\n".join(out), n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="naive_array_bridge")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True, help="topic filter of the batches")
    parser.add_argument("--url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--prepare", action="store_true",
                        help="only create the persistent session and exit")
    parser.add_argument("--expect-samples", type=int, default=0)
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--writers", type=int, default=2)
    args = parser.parse_args(argv)
    bodies: queue.Queue[tuple[bytes, int] | None] = queue.Queue(maxsize=8)
    state = {"stored": 0, "errors": 0, "first": 0.0, "last": 0.0, "received": 0.0}
    lock = threading.Lock()
    subscribed = threading.Event()

    def writer() -> None:
        with LineWriter(url=args.url, database=args.database, timeout_s=120) as w:
            while (item := bodies.get()) is not None:
                body, n = item
                try:
                    w.write_body(body)
                except StoreError:
                    with lock:
                        state["errors"] += 1
                    continue
                with lock:
                    state["stored"] += n
                    state["last"] = time.monotonic()

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: object,
                   properties: object) -> None:
        client.subscribe(args.topic, qos=1)

    def on_subscribe(*_: object) -> None:
        subscribed.set()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if not state["first"]:
            state["first"] = now
        state["received"] = now
        body, n = lines_of(orjson.loads(message.payload))
        bodies.put((body.encode(), n))

    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="naive-array-bridge",
                         protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    threads = [threading.Thread(target=writer, daemon=True) for _ in range(args.writers)]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    client.connect("127.0.0.1", args.port, clean_start=False, properties=props)
    client.loop_start()
    subscribed.wait(30)
    if args.prepare:
        client.disconnect()
        client.loop_stop()
        print(json.dumps({"prepared": True}), flush=True)
        return 0
    started = time.monotonic()
    while True:
        time.sleep(0.02)
        with lock:
            stored = state["stored"]
        if args.expect_samples and stored >= args.expect_samples:
            break
        last = max(state["received"], state["last"], started)
        if time.monotonic() - last > args.idle_s:
            break
    client.disconnect()
    client.loop_stop()
    for _ in threads:
        bodies.put(None)
    for t in threads:
        t.join()
    print(json.dumps({"stored": state["stored"], "errors": state["errors"],
                      "seconds": state["last"] - state["first"],
                      "cpu_s": time.process_time() - cpu0}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
