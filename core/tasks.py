"""Bounded, explicit shutdown of asyncio tasks.

On Python 3.11, `asyncio.wait_for` returns the inner result when the inner future
completes in the same event-loop tick as a cancellation of the waiting task: the
`CancelledError` is swallowed, and a `while True` loop around such an await (aiomqtt's
publish waits through `wait_for`) runs on after it was cancelled. So every long-running
loop checks a closing flag, calls `raise_if_cancelling()` after awaits that can swallow
a cancellation, and its owner stops it with `stop_tasks`: cancel, wait with a bound, on
timeout log every pending task's stack and cancel again.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["raise_if_cancelling", "stack_dump", "stop_tasks"]

log = logging.getLogger(__name__)


def raise_if_cancelling() -> None:
    """Raise `CancelledError` if the current task was asked to cancel but the request
    was swallowed (it is still pending: nobody called `uncancel()`)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def stack_dump(tasks: Iterable[asyncio.Task[Any]]) -> str:
    """The stacks of `tasks`, one block per task, for a log line or an error."""
    out = io.StringIO()
    for task in tasks:
        out.write(f"--- task {task.get_name()} ({'done' if task.done() else 'pending'})\n")
        task.print_stack(file=out)
    return out.getvalue()


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, timeout_s: float = 10.0,
                     rounds: int = 3) -> bool:
    """Cancel `tasks` and wait for them, at most `rounds` times `timeout_s`; after each
    round that leaves tasks pending, log their stacks at error level and cancel them
    again. True if every task finished. Never waits without a bound."""
    pending = {t for t in tasks if not t.done()}
    for attempt in range(1, rounds + 1):
        if not pending:
            return True
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=timeout_s)
        if pending:
            log.error("%d task(s) still running %.0f s after cancel (round %d of %d):\n%s",
                      len(pending), timeout_s, attempt, rounds, stack_dump(pending))
    return not pending
