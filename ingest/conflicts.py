"""A changed batch for an interval already stored is a conflict, not a merge.

Points are keyed by (measurement, tags, batch start), so a second, *different* batch
for the same gateway and interval (a gateway whose disk and sequence were lost, a
misconfigured twin) would overwrite some fields and leave others: a merge of two
versions. Ingest stores a content hash on the `batch` point (`content`) and, once per
micro-batch, looks up the hashes already stored for the intervals it is about to
write (one InfluxQL request, one statement per gateway). A batch whose interval is
stored with another hash is dead-lettered as `conflict`; what is stored stays.

Identity: `batch_key` is what storage overwrites (site, gateway, t_start); the hash
covers everything the gateway said except the `backlog` flag, which the edge sets when
it republishes from its queue (a redelivery is no conflict). A future `epoch` field of
the batch is covered by the hash like `seq`, so a new epoch that reuses an interval is a
conflict too (two versions would merge in storage); `batch_key` is the one place to
extend should storage ever key points by epoch.

Two workers that receive two versions of one interval in the same instant can both
find nothing stored and both write: the store has no transactions. The window is one
micro-batch.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec

from plantstream.errors import StoreError
from plantstream.store.sinks import Sink
from plantstream.wire import Batch, encode

__all__ = ["BatchKey", "ConflictCheck", "batch_key", "content_hash"]

log = logging.getLogger(__name__)

BatchKey = tuple[str, str, int]


def batch_key(batch: Batch) -> BatchKey:
    return (batch.site, batch.gateway, batch.t_start_ms)


def content_hash(batch: Batch) -> str:
    canonical = encode(msgspec.structs.replace(batch, backlog=False))
    return hashlib.blake2b(canonical, digest_size=12).hexdigest()


class ConflictCheck:
    """Looks up the stored content hashes of a micro-batch's intervals."""

    def __init__(self, *, sink: Sink, enabled: bool = True) -> None:
        self.sink = sink
        self.enabled = enabled
        self.skipped = 0  # micro-batches written unchecked (the store could not answer)

    async def stored(self, batches: Sequence[Batch]) -> dict[BatchKey, str]:
        """Content hash of each key already stored (keys stored without one are absent)."""
        if not self.enabled or not batches:
            return {}
        spans: dict[tuple[str, str], list[int]] = defaultdict(list)
        for b in batches:
            spans[(b.site, b.gateway)].append(b.t_start_ms)
        groups = list(spans.items())
        q = ";".join(
            f'SELECT "content" FROM "batch" WHERE "site" = \'{site}\' AND '
            f"\"gateway\" = '{gateway}' AND time >= {min(ts)}ms AND time <= {max(ts)}ms"
            for (site, gateway), ts in groups)
        try:
            results = await self.sink.query(q)
        except StoreError as exc:
            if exc.status is not None and 400 <= exc.status < 600 \
                    and exc.status not in (401, 403, 429, 500, 502, 503, 504):
                log.warning("ingest: the store has no InfluxQL /query API (%s); batches are "
                            "written without a conflict check", exc)
                self.enabled = False
            else:
                log.debug("ingest: conflict look-up failed (%s); written unchecked", exc)
            self.skipped += 1
            return {}
        try:
            return _parse(groups, results)
        except (TypeError, ValueError, KeyError) as exc:  # not InfluxDB's answer
            log.warning("ingest: the store answers InfluxQL unlike InfluxDB (%s); batches "
                        "are written without a conflict check", exc)
            self.enabled = False
            self.skipped += 1
            return {}


def _parse(groups: list[tuple[tuple[str, str], list[int]]],
           results: list[dict[str, Any]]) -> dict[BatchKey, str]:
    if len(results) != len(groups):
        raise ValueError(f"{len(results)} results for {len(groups)} statements")
    found: dict[BatchKey, str] = {}
    for ((site, gateway), _), result in zip(groups, results, strict=True):
        for series in result.get("series", []):
            if series["name"] != "batch" or series["columns"] != ["time", "content"]:
                raise ValueError(f"unexpected series {series['name']!r} {series['columns']}")
            for t_ms, content in series["values"]:
                if content is not None:
                    found[(site, gateway, int(t_ms))] = str(content)
    return found
