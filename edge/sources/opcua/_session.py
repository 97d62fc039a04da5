"""The asyncua side of the OPC UA source: connect, subscribe, watch, reconnect, check.

Imported when an OPC UA source starts (asyncua and its dependencies weigh about 30 MB
of memory), never by loading a configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaError

from plantstream.edge.sources.modbus._buffer import raise_if_cancelled
from plantstream.errors import ServiceError

if TYPE_CHECKING:
    from plantstream.edge.sources.opcua import OpcUaSource

__all__ = ["check", "normalized", "supervise"]

log = logging.getLogger(__name__)


def normalized(node_text: str) -> str:
    """The node id as asyncua writes it (what notifications are matched against)."""
    return str(ua.NodeId.from_string(node_text).to_string())


async def supervise(source: OpcUaSource) -> None:
    """Keep a subscription alive: (re)connect with exponential backoff, forever."""
    cfg = source.config
    delay = cfg.reconnect_min_s
    while True:
        try:
            await _session(source)
            delay = cfg.reconnect_min_s  # the session ran: reset the backoff
        except (OSError, TimeoutError, UaError, ConnectionError) as exc:
            source.errors += 1
            log.warning("opcua %s: %s: %r; retrying in %.1f s", source.name, cfg.url, exc,
                        delay)
        except Exception:  # keep supervising whatever asyncua raises
            source.errors += 1
            log.exception("opcua %s: session failed; retrying in %.1f s", source.name, delay)
        if source.connected.is_set():
            source.connected.clear()
            source.connection_lost()
        raise_if_cancelled()
        await asyncio.sleep(delay)
        delay = min(delay * 2, cfg.reconnect_max_s)


async def _session(source: OpcUaSource) -> None:
    """Connect, subscribe, then watch the connection until it fails."""
    cfg = source.config
    client = Client(cfg.url, timeout=cfg.timeout_s)
    try:
        await asyncio.wait_for(client.connect(), timeout=cfg.timeout_s * 2)
        subscription = await client.create_subscription(
            int(cfg.publishing_interval_s * 1000), source)
        nodes = [client.get_node(text) for text in source.node_texts]
        results = await subscription.subscribe_data_change(nodes)
        for node, result in zip(nodes, results, strict=True):
            if not isinstance(result, int):  # a status code: the node is missing
                source.errors += 1
                log.warning("opcua %s: cannot subscribe to %s: %s", source.name,
                            node.nodeid.to_string(), result)
        source.connects += 1
        source.connected.set()
        log.info("opcua %s: subscribed to %d nodes at %s", source.name, len(nodes), cfg.url)
        while True:  # the watchdog: a read that fails means the connection is gone
            await asyncio.sleep(cfg.watchdog_s)
            await asyncio.wait_for(client.nodes.server_state.read_value(), timeout=cfg.timeout_s)
            raise_if_cancelled()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), timeout=cfg.timeout_s)


async def check(source: OpcUaSource) -> None:
    """Connect apart from the running source and look up every mapped node; raise
    `ServiceError` if the server cannot be reached or a node does not exist."""
    cfg = source.config
    service = f"opcua source {source.name}"
    client = Client(cfg.url, timeout=cfg.timeout_s)
    try:
        await asyncio.wait_for(client.connect(), timeout=cfg.timeout_s * 2)
    except (OSError, TimeoutError, UaError) as exc:
        raise ServiceError(service=service, reason=f"{cfg.url}: {exc!r}") from exc
    unreadable = []
    try:
        for text in source.node_texts:
            try:
                await client.get_node(text).read_browse_name()  # exists (value may be bad)
            except (UaError, TimeoutError) as exc:
                unreadable.append(f"{text} ({type(exc).__name__})")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), timeout=cfg.timeout_s)
    if unreadable:
        raise ServiceError(service=service, reason="cannot read " + ", ".join(unreadable))
