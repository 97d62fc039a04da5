"""A Sparkplug B edge node for the tests, built on the third-party library pysparkplug.

Runs in its own virtualenv (requirements/peers.txt). Reads one JSON command a
line on standard input, answers {"ok": op} (or {"error": ...}) a line on standard output;
NCMDs it receives are reported as {"event": "ncmd", "metrics": {name: value}} and a
"Node Control/Rebirth" makes it start a new session (NDEATH, NBIRTH, DBIRTHs).

    {"op": "connect", "port": P, "group": G, "node": N,
     "node_metrics": [METRIC...], "devices": {"press-01": [METRIC...]}}
    {"op": "update_device", "device": D, "metrics": [METRIC...]}
    {"op": "update_device_aliases", "device": D, "metrics": [METRIC without name...]}
    {"op": "update_node", "metrics": [METRIC...]}
    {"op": "skip_seq"}                   lose one message: the next one jumps a seq
    {"op": "publish", "type": "DDATA", "device": D, "seq": S, "metrics": [METRIC...]}
                                         a message from a separate client (no birth)
    {"op": "reconnect"}                  end the session cleanly and start a new one
    METRIC = {"name": ..., "datatype": "INT32", "value": ..., "alias": 3,
              "timestamp": ms, "is_historical": true}
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from typing import Any

from pysparkplug import (
    Client,
    DataType,
    DData,
    Device,
    EdgeNode,
    Message,
    MessageType,
    Metric,
    QoS,
    Topic,
)

commands: queue.Queue[dict[str, Any]] = queue.Queue()
out_lock = threading.Lock()


def say(message: dict[str, Any]) -> None:
    with out_lock:
        print(json.dumps(message), flush=True)


def metric(spec: dict[str, Any]) -> Metric:
    return Metric(timestamp=spec.get("timestamp", int(time.time() * 1000)),
                  name=spec.get("name"), datatype=DataType[spec["datatype"]],
                  value=spec.get("value"), alias=spec.get("alias"),
                  is_historical=spec.get("is_historical", False))


def on_ncmd(_node: EdgeNode, message: Message) -> None:
    values = {m.name: m.value for m in message.payload.metrics}
    say({"event": "ncmd", "metrics": values})
    if values.get("Node Control/Rebirth"):
        commands.put({"op": "reconnect", "quiet": True})


def read_stdin() -> None:
    for line in sys.stdin:
        if line.strip():
            commands.put(json.loads(line))
    commands.put({"op": "exit"})


class BirthWatch:
    """Set once the library has handed a session's NBIRTH and every DBIRTH to paho (it
    reports "connected" before it publishes them, from paho's thread; what we publish
    afterwards from this thread is queued behind them)."""

    def __init__(self, node: EdgeNode, devices: int) -> None:
        self.devices = devices
        self.born = threading.Event()
        self._births = 0
        publish = node._client.publish

        def counting(message: Message, **kwargs: Any) -> None:
            publish(message, **kwargs)
            if message.topic.message_type in (MessageType.NBIRTH, MessageType.DBIRTH):
                self._births += 1
                if self._births >= 1 + self.devices:
                    self.born.set()

        node._client.publish = counting  # type: ignore[method-assign]

    def expect(self) -> None:
        self._births = 0
        self.born.clear()

    def wait(self) -> None:
        if not self.born.wait(20):
            raise TimeoutError("edge node did not publish its births")


def main() -> None:
    threading.Thread(target=read_stdin, daemon=True).start()
    node: EdgeNode | None = None
    births: BirthWatch | None = None
    setup: dict[str, Any] = {}
    while True:
        command = commands.get()
        op = command["op"]
        try:
            if op == "exit":
                return
            if op == "connect":
                setup = command
                node = EdgeNode(command["group"], command["node"],
                                [metric(m) for m in command.get("node_metrics", [])],
                                cmd_callback=on_ncmd)
                for device_id, metrics in command.get("devices", {}).items():
                    node.register(Device(device_id, [metric(m) for m in metrics]))
                births = BirthWatch(node, len(command.get("devices", {})))
                node.connect("127.0.0.1", port=command["port"])
                births.wait()
            elif op == "update_device" and node is not None:
                node.update_device(command["device"], [metric(m) for m in command["metrics"]])
            elif op == "update_device_aliases" and node is not None:
                # DDATA as most edge nodes send it after a birth with aliases: alias and
                # value only (no name, no datatype), on the node's own session and seq
                topic = Topic(message_type=MessageType.DDATA, group_id=setup["group"],
                              edge_node_id=setup["node"], device_id=command["device"])
                payload = DData(int(time.time() * 1000), seq=node._seq,
                                metrics=tuple(metric(m) for m in command["metrics"]))
                node._client.publish(Message(topic=topic, payload=payload, qos=QoS.AT_MOST_ONCE,
                                             retain=False), include_dtypes=False)
            elif op == "update_node" and node is not None:
                node.update([metric(m) for m in command["metrics"]])
            elif op == "skip_seq" and node is not None:
                node._seq  # noqa: B018 - advances the library's seq counter: a lost message
            elif op == "reconnect" and node is not None and births is not None:
                node.disconnect()
                births.expect()
                node.connect("127.0.0.1", port=setup["port"])
                births.wait()
            elif op == "publish":
                client = Client(client_id=f"spb-node-raw-{time.monotonic_ns()}")
                up = threading.Event()
                client.connect("127.0.0.1", port=setup["port"], blocking=False,
                               callback=lambda _client, up=up: up.set())
                if not up.wait(20):
                    raise TimeoutError("raw client did not connect")
                topic = Topic(message_type=MessageType[command["type"]],
                              group_id=setup["group"], edge_node_id=setup["node"],
                              device_id=command.get("device"))
                payload = DData(int(time.time() * 1000), seq=command["seq"],
                                metrics=tuple(metric(m) for m in command["metrics"]))
                client.publish(Message(topic=topic, payload=payload, qos=QoS.AT_LEAST_ONCE,
                                       retain=False), include_dtypes=True)
                client.disconnect()  # sent after the publish, on the same connection
            else:
                raise ValueError(f"unknown or premature command {op!r}")
        except Exception as exc:  # report, keep serving
            say({"error": f"{op}: {exc!r}"})
            continue
        if not command.get("quiet"):
            say({"ok": op})


if __name__ == "__main__":
    main()
