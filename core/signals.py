"""SIGTERM / SIGINT handling for long-running commands: ask the service to drain."""

from __future__ import annotations

import asyncio
import signal

__all__ = ["stop_event"]


def stop_event() -> asyncio.Event:
    """An event set on SIGTERM or SIGINT (call inside the running loop)."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event
