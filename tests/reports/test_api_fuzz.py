"""Every endpoint and parameter of the served OpenAPI document, fuzzed with hostile values.

For each operation the document lists, every parameter gets a valid value, a look-alike
of one (other Unicode digits and dashes), or something hostile: control characters,
non-ASCII text, very long strings, traversal and InfluxQL metacharacters; the token is
a valid one, none, a guess, non-ASCII bytes or a very long one. No answer may be a 5xx,
the server must count no unexpected exception (`/healthz`), and every request is
accounted for: a refused one in the security log, a delivered pull in the audit log.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st

from plantstream.devstack.services import InfluxD
from plantstream.store.influxql import InfluxQL
from tests.reports.dataset import TOKENS, lines, write_configs, write_points
from tests.reports.live import live_server

pytestmark = pytest.mark.services

# valid values, by parameter name, from the dataset
SEEDS: dict[str, list[str]] = {
    "scope": ["site-a", "ent-a", "site-b", "ent-b"],
    "site": ["site-a", "site-b"],
    "period": ["2026-10", "2026-10-05", "2026-Q4", "2026-10-01..2026-10-03", "2025"],
    "format": ["json", "csv"],  # pdf takes a second to render: in test_api_security
    "as_of": ["2026-10-05", "2026-10-31"],
    "day": ["2026-10-05", "2026-11-30"],
}
DIGITS = ["０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "߀߁߂߃߄߅߆߇߈߉"]
DASHES = ["\u2010", "\u2011", "\u2212", "\uff0d", "\u2013"]
HOSTILE = [
    "", " ", "..", "../../../etc/passwd", "%2e%2e%2f", "' OR 1=1 --", '"; DROP DATABASE x',
    "site-a' OR \"site\" =~ /.*/ --", "\\", "/", "?#", "\u202e", "\ufeff2026-10", "\x00",
    "\r\nX-Injected: 1", "😀", "ｓｉｔｅ-a", "2026-10-05..2026-10-05..2026-10-05",
]


@st.composite
def lookalike(draw: st.DrawFn, seeds: list[str]) -> str:
    """A valid value with its digits in another script, or its dashes another dash."""
    seed = draw(st.sampled_from(seeds))
    digits = draw(st.sampled_from(DIGITS))
    dash = draw(st.sampled_from(DASHES))
    mode = draw(st.sampled_from(["digits", "one digit", "dashes", "mixed"]))
    if mode == "digits":
        return "".join(digits[int(c)] if c.isdigit() else c for c in seed)
    if mode == "dashes":
        return seed.replace("-", dash)
    if mode == "one digit":
        where = [i for i, c in enumerate(seed) if c.isdigit()] or [0]
        i = draw(st.sampled_from(where))
        return seed[:i] + (digits[int(seed[i])] if seed[i:i + 1].isdigit() else dash) \
            + seed[i + 1:]
    return "".join(digits[int(c)] if c.isdigit() and draw(st.booleans())
                   else dash if c == "-" and draw(st.booleans()) else c for c in seed)


def hostile() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(max_size=40),  # any code point, controls included
        st.text(st.characters(categories=["Cc", "Cf", "Zs", "Nd", "Pd", "Co"]), max_size=20),
        st.builds(lambda c, n: c * n, st.sampled_from(["9", "a", "é", "\x01", "2026-"]),
                  st.integers(200, 3000)))


def value_of(name: str, schema: dict[str, Any]) -> st.SearchStrategy[str]:
    seeds = SEEDS.get(name) or [str(v) for v in schema.get("enum", [])] or ["x"]
    return st.one_of(st.sampled_from(seeds), lookalike(seeds), hostile())


TOKEN_VALUES: list[bytes | None] = [
    TOKENS["zj"].encode(), TOKENS["park"].encode(), TOKENS["js"].encode(), None,
    b"guess", "tökén-ｚｊ".encode(), b"x" * 4000, TOKENS["zj"].encode() + b"\xff",
    TOKENS["revoked"].encode()]


@dataclass
class Server:
    base: str
    directory: Path


@pytest.fixture(scope="module")
def server(influxd: InfluxD, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database = f"reports_fuzz_{uuid.uuid4().hex[:8]}"
    directory = tmp_path_factory.mktemp("reports-fuzz")
    with InfluxQL(url=influxd.url, database=database) as client:
        client.create_database()
        write_points(influxd.url, database, lines())
        config = write_configs(directory, url=influxd.url, database=database)
        with live_server(config) as base:
            yield Server(base=base, directory=directory)
        client.query(f'DROP DATABASE "{database}"')


def _count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str, bool]]]]:
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            out.append((method.upper(), path, [(p["name"], p["in"], p.get("required", False))
                                               for p in op.get("parameters", [])]))
    return out


# the token that may pull a scope or site of the dataset
OWNER = {"site-a": TOKENS["zj"], "ent-a": TOKENS["zj"], "site-b": TOKENS["js"],
         "ent-b": TOKENS["js"]}


def test_no_request_gets_a_5xx_and_every_one_is_accounted_for(server: Server) -> None:
    """For every operation of the document, every parameter in turn (and the token) is
    made hostile while the others are valid (so that it reaches past authentication and
    the other checks), in each format; then requests with everything drawn at random."""
    spec = httpx.get(f"{server.base}/openapi.json").json()
    operations = _operations(spec)
    assert {p for _, p, _ in operations} >= {"/v1/reports/energy", "/v1/sites/{site}/realtime",
                                             "/v1/whoami", "/healthz"}
    audit, security = server.directory / "audit.jsonl", server.directory / "security.jsonl"
    audit_before, security_before = _count(audit), _count(security)
    tally: dict[str, Any] = {"refused": 0, "pulls": 0, "statuses": set(), "sent": []}

    def send(method: str, path: str, query: dict[str, str], token: bytes | None) -> None:
        headers = {b"authorization": b"Bearer " + token} if token is not None else {}
        target = path.encode() + (b"?" + urllib.parse.urlencode(query).encode() if query
                                  else b"")
        url = httpx.URL(server.base).copy_with(raw_path=target)
        response = httpx.request(method, url, headers=headers, timeout=60)
        assert response.status_code < 500, (method, path, query, token, response.text[:300])
        tally["statuses"].add(response.status_code)
        tally["sent"].append((response.status_code, urllib.parse.unquote(
            response.url.raw_path.split(b"?")[0].decode())))
        if response.status_code >= 400:
            tally["refused"] += 1
        elif path.startswith(("/v1/reports/", "/v1/sites/")):
            tally["pulls"] += 1

    def build(draw: st.DrawFn, method: str, path: str, params: list[tuple[str, str, bool]],
              target: str | None, fmt: str) -> tuple[str, dict[str, str], bytes | None]:
        query: dict[str, str] = {}
        owner: bytes | None = TOKENS["zj"].encode()
        for name, where, required in params:
            if name == target:
                value = draw(st.one_of(lookalike(SEEDS.get(name, ["x"])), hostile()))
            elif name == "format":
                value = fmt
            elif not required and target is not None and draw(st.booleans()):
                continue
            else:
                value = draw(st.sampled_from(SEEDS.get(name, ["x"])))
                owner = OWNER[value].encode() if value in OWNER else owner
            if where == "path":
                path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
            else:
                query[name] = value
        token = draw(st.sampled_from(TOKEN_VALUES)) if target == "token" else owner
        return path, query, token

    settings = hypothesis.settings(max_examples=6, deadline=None, derandomize=True,
                                   database=None,
                                   suppress_health_check=list(hypothesis.HealthCheck))
    def hostile_in(method: str, path: str, params: list[tuple[str, str, bool]], target: str,
                   fmt: str) -> None:
        @settings
        @hypothesis.given(st.data())
        def one_hostile(data: st.DataObject) -> None:
            send(method, *build(data.draw, method, path, params, target, fmt))

        one_hostile()

    for method, path, params in operations:
        names = [n for n, _, _ in params]
        for target in [n for n in names if n != "format"] + ["token"]:
            for fmt in ["json", "csv"] if "format" in names else ["json"]:
                hostile_in(method, path, params, target, fmt)

    @hypothesis.settings(settings, max_examples=40)
    @hypothesis.given(st.data())
    def anything(data: st.DataObject) -> None:
        method, path, params = data.draw(st.sampled_from(operations))
        query: dict[str, str] = {}
        for name, where, required in params:
            if not required and data.draw(st.booleans()):
                continue
            value = data.draw(value_of(name, {}))
            if where == "path":
                path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
            else:
                query[name] = value
        send(method, path, query, data.draw(st.sampled_from(TOKEN_VALUES)))

    anything()
    assert {200, 401, 403, 422} <= tally["statuses"]
    assert tally["pulls"], "no pull got through: the fuzzing did not reach the reports"
    health = httpx.get(f"{server.base}/healthz").json()
    assert health["unexpected_errors"] == 0, health
    deadline = time.monotonic() + 30
    while (_count(audit) - audit_before, _count(security) - security_before) != (
            tally["pulls"], tally["refused"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _count(audit) - audit_before == tally["pulls"]
    assert _count(security) - security_before == tally["refused"]
    assert security.read_bytes().isascii()  # no control or line-separator characters
    entries = [json.loads(x) for x in security.read_text().splitlines()[security_before:]]
    assert sorted(e["status"] for e in entries) == sorted(
        status for status, _ in tally["sent"] if status >= 400)
    sent_paths = {path for status, path in tally["sent"] if status >= 400}
    assert all(any(p.startswith(e["path"].removesuffix("...")) for p in sent_paths)
               for e in entries)
    assert all(e["reason"] for e in entries)
