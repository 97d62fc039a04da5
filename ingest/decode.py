"""Decode and validate one MQTT message into a batch, or say why not.

The fast path is msgspec decoding straight into typed structs (parse and validate in
one pass); the cross-field rules follow in `plantstream.wire.check_batch`; the rules
that need the asset registry (gateway on its own topic, known machines) are here.
"""

from __future__ import annotations

import zlib

from plantstream.config import PlantConfig
from plantstream.errors import WireError
from plantstream.topics import Topics
from plantstream.wire import ID, Batch, decode_batch

__all__ = ["GZIP_MAGIC", "decode_message"]

GZIP_MAGIC = b"\x1f\x8b"


def _gunzip(payload: bytes, *, limit: int, topic: str, gateway: str) -> bytes:
    """Decompress at most `limit` bytes: a small bomb cannot take the worker's memory."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(payload, limit)
    except zlib.error as exc:
        raise WireError(reason="bad_gzip", detail=str(exc), topic=topic,
                        gateway=gateway) from None
    if inflater.unconsumed_tail:
        raise WireError(reason="oversize", detail=f"decompresses beyond {limit} bytes",
                        topic=topic, gateway=gateway)
    return out


def decode_message(*, topic: str, payload: bytes, topics: Topics, plant: PlantConfig,
                   max_payload_bytes: int, max_future_ms: int, now_ms: int) -> Batch:
    """Return the batch, or raise `WireError` with a reason for the dead letters."""
    parsed = topics.parse_gateway_topic(topic)
    if parsed is None or parsed[2] != "batch":
        raise WireError(reason="unexpected_topic", detail="not a batch topic", topic=topic)
    site, gateway, _ = parsed
    if not (ID.fullmatch(site) and ID.fullmatch(gateway)):  # a dead-letter topic stays valid
        raise WireError(reason="unexpected_topic", detail="site or gateway is not a valid id",
                        topic=topic)
    if len(payload) > max_payload_bytes:
        raise WireError(reason="oversize", detail=f"{len(payload)} bytes > {max_payload_bytes}",
                        topic=topic, gateway=gateway)
    if payload[:2] == GZIP_MAGIC:  # a gateway with `compress = true`
        payload = _gunzip(payload, limit=max_payload_bytes, topic=topic, gateway=gateway)
    batch = decode_batch(payload, topic=topic, max_future_ms=max_future_ms, now_ms=now_ms)
    if batch.gateway != gateway or batch.site != site:
        raise WireError(reason="topic_mismatch",
                        detail=f"batch says {batch.site}/{batch.gateway}, topic {site}/{gateway}",
                        topic=topic, gateway=gateway, seq=batch.seq)
    if plant.gateway_sites.get(gateway) != site:
        raise WireError(reason="unknown_gateway", detail=f"{site}/{gateway} is not registered",
                        topic=topic, gateway=gateway, seq=batch.seq)
    for m in batch.machines:
        machine = plant.machine(m.machine)
        if machine is None or machine.gateway != gateway:
            raise WireError(reason="unknown_machine",
                            detail=f"machine {m.machine} is not registered on {gateway}",
                            topic=topic, gateway=gateway, seq=batch.seq)
    return batch
