"""systemd notifications without a dependency: READY=1, WATCHDOG=1, STOPPING=1.

Does nothing unless systemd set `$NOTIFY_SOCKET` (a `Type=notify` unit). The watchdog
is fed from the event loop, so a blocked loop stops the pings and systemd restarts the
service after `WatchdogSec`.
"""

from __future__ import annotations

import asyncio
import os
import socket

__all__ = ["notify", "watchdog_forever"]


def notify(message: str) -> bool:
    """Send one notification; False when not running under a notify-type unit."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)  # called from the event loop: never wait for a reader
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):
            return False
    return True


async def watchdog_forever() -> None:
    """Ping the watchdog at half the interval systemd asks for (`$WATCHDOG_USEC`)."""
    usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    if not usec or not os.environ.get("NOTIFY_SOCKET"):
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(usec / 2_000_000)
