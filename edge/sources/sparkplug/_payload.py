"""Sparkplug B payloads: decoding metric values, building the host's own messages.

Protobuf code generated from Eclipse Tahu's `sparkplug_b.proto` (tahu v1.0.7; the
proto itself last changed in tahu commit 46f25e7, 2022-05-16), committed beside it as
`sparkplug_b_pb2.py`. Regenerate with the protobuf compiler (Debian package
`protobuf-compiler`, 3.21.12 used):

    cd edge/sources/sparkplug && protoc --python_out=. sparkplug_b.proto
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from google.protobuf.message import DecodeError

# generated code builds its classes at import time: to the type checker it is Any
pb: Any = importlib.import_module("plantstream.edge.sources.sparkplug.sparkplug_b_pb2")

__all__ = ["BD_SEQ", "NAMESPACE", "REBIRTH", "DataType", "DecodeError", "Payload",
           "decode_payload", "metric_value", "rebirth_request", "signal_name", "state_message"]

NAMESPACE = "spBv1.0"
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
Payload = pb.Payload
DataType = pb.DataType

# signed integer datatypes travel as two's complement in an unsigned field
_SIGNED_BITS: dict[int, int] = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}
_NOT_SIGNAL = re.compile(r"[^A-Za-z0-9_.\-]")


def decode_payload(data: bytes) -> Any:
    """A Sparkplug B payload; `DecodeError` if `data` is not one."""
    payload = pb.Payload()
    payload.ParseFromString(data)
    return payload


def metric_value(metric: Any, datatype: int | None) -> int | float | str | None:
    """The metric's value: signed integers sign-corrected by `datatype` (the metric's or
    the one its birth declared), booleans 0/1; None when null or not a scalar."""
    if metric.is_null:
        return None
    kind = metric.WhichOneof("value")
    if kind in ("int_value", "long_value"):
        raw = int(getattr(metric, kind))
        bits = _SIGNED_BITS.get(datatype or 0)
        if bits is not None:
            raw &= (1 << bits) - 1
            if raw >= 1 << (bits - 1):
                raw -= 1 << bits
        return raw
    if kind in ("float_value", "double_value"):
        return float(getattr(metric, kind))
    if kind == "boolean_value":
        return int(metric.boolean_value)
    if kind == "string_value":
        return str(metric.string_value)
    return None  # bytes, datasets, templates, extensions: not mapped


def rebirth_request(now_ms: int) -> bytes:
    """The NCMD payload asking an edge node to publish its births again."""
    payload = pb.Payload(timestamp=now_ms)
    metric = payload.metrics.add()
    metric.name = REBIRTH
    metric.timestamp = now_ms
    metric.datatype = pb.Boolean
    metric.boolean_value = True
    return bytes(payload.SerializeToString())


def state_message(*, online: bool, timestamp_ms: int) -> bytes:
    """A Sparkplug 3.0 host application STATE payload (JSON, retained)."""
    return json.dumps({"online": online, "timestamp": timestamp_ms}).encode()


def signal_name(metric: str) -> str:
    """A raw signal name for an unmapped metric ("Status/Motor Temp" -> "Status_Motor_Temp")."""
    return _NOT_SIGNAL.sub("_", metric)[:64] or "_"
