"""A Sparkplug B host application for the tests, built on the third-party pysparkplug.

Runs in its own virtualenv (requirements/peers.txt). Commands, one JSON a line on
standard input, answered {"ok": op}; every Sparkplug message it receives is printed as
{"event": "message", "type": "DBIRTH", "node": ..., "device": ..., "seq": ...,
"metrics": [{"name", "alias", "datatype", "value", "timestamp"}]}, decoded by the
library with the births it saw (so aliases and left-out datatypes are resolved by it).

    {"op": "subscribe", "port": P, "group": G}
    {"op": "rebirth", "node": N}        an NCMD Node Control/Rebirth
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from pysparkplug import (
    Client,
    DataType,
    Message,
    MessageType,
    Metric,
    NCmd,
    QoS,
    Topic,
)

out_lock = threading.Lock()


def say(message: dict[str, Any]) -> None:
    with out_lock:
        print(json.dumps(message), flush=True)


def on_message(_client: Client, message: Message) -> None:
    topic = message.topic
    metrics = [{"name": m.name, "alias": m.alias, "datatype": DataType(m.datatype).name,
                "value": m.value, "is_null": m.is_null, "timestamp": m.timestamp}
               for m in getattr(message.payload, "metrics", None) or (
                   [message.payload.bd_seq_metric]  # the library's NDEATH holds just bdSeq
                   if hasattr(message.payload, "bd_seq_metric") else [])]
    say({"event": "message", "type": str(topic.message_type), "node": topic.edge_node_id,
         "device": topic.device_id, "seq": getattr(message.payload, "seq", None),
         "metrics": metrics})


def main() -> None:
    client = Client(client_id=f"spb-host-{time.monotonic_ns()}")
    setup: dict[str, Any] = {}
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        try:
            if op == "subscribe":
                setup = command
                up = threading.Event()
                client.connect("127.0.0.1", port=command["port"], blocking=False,
                               callback=lambda _client, up=up: up.set())
                if not up.wait(20):
                    raise TimeoutError("host did not connect")
                subscribed = threading.Event()
                client._client.on_subscribe = lambda *_args, done=subscribed: done.set()
                client.subscribe(Topic(group_id=command["group"], message_type="#"),
                                 QoS.AT_MOST_ONCE, on_message)
                if not subscribed.wait(20):
                    raise TimeoutError("host did not subscribe")
            elif op == "rebirth":
                now = int(time.time() * 1000)
                client.publish(Message(
                    topic=Topic(message_type=MessageType.NCMD, group_id=setup["group"],
                                edge_node_id=command["node"]),
                    payload=NCmd(now, metrics=(Metric(timestamp=now,
                                                      name="Node Control/Rebirth",
                                                      datatype=DataType.BOOLEAN, value=True),)),
                    qos=QoS.AT_MOST_ONCE, retain=False), include_dtypes=True)
            else:
                raise ValueError(f"unknown command {op!r}")
        except Exception as exc:
            say({"error": f"{op}: {exc!r}"})
            continue
        say({"ok": op})
    client.disconnect()


if __name__ == "__main__":
    main()
