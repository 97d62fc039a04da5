"""All InfluxDB I/O: InfluxQL reads, line-protocol primitives, the v1 and v2 writers.

No other package posts to a `/write` endpoint (the import-contract test checks it).
"""
