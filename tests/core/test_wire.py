"""Wire format v1: the published JSON Schema, decoding, and each rejection reason."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import msgspec
import pytest

from plantstream.errors import WireError
from plantstream.topics import Topics
from plantstream.wire import (
    Batch,
    MachineInterval,
    MeterDelta,
    SignalSamples,
    StateChange,
    check_batch,
    decode_batch,
    encode,
    json_schema,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
T0 = 1_795_000_000_000


def _batch(**changes: object) -> Batch:
    machine = MachineInterval(
        machine="m1", state_at_start=10000, changes=[StateChange(T0 + 500, 50000)],
        meters=[MeterDelta(carrier="electricity", unit="kWh", delta=0.5, raw_start=1.0,
                           raw_end=501.0, covered_ms=10_000)],
        samples=[SignalSamples(signal="power_kw", offsets_ms=[0, 1000], values=[1.5, None])])
    batch = Batch(v=1, site="s1", gateway="g1", seq=3, t_start_ms=T0, t_end_ms=T0 + 10_000,
                  machines=[machine])
    return msgspec.structs.replace(batch, **changes)


def _meaning(schema: object) -> object:
    """The schema without its prose: descriptions are documentation, and their
    whitespace is the generator's choice (msgspec changed it between releases)."""
    if isinstance(schema, dict):
        return {key: _meaning(value) for key, value in schema.items()
                if key not in ("description", "title")}
    if isinstance(schema, list):
        return [_meaning(item) for item in schema]
    return schema


def test_published_schema_is_the_generated_one() -> None:
    published = json.loads((DOCS / "wire-format.schema.json").read_text())
    assert _meaning(published) == _meaning(json_schema()), \
        "regenerate: plantstream wire-schema > docs/wire-format.schema.json"


def test_encoded_batch_validates_against_the_schema() -> None:
    document = json.loads(encode(_batch()))
    jsonschema.validate(document, json_schema())
    assert decode_batch(encode(_batch())) == _batch()


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{not json", "bad_json"),
    (b'{"v": 1}', "invalid_field"),
    (encode(_batch()).replace(b'"seq":3', b'"seq":"3"'), "invalid_field"),
    (encode(_batch()).replace(b'"v":1', b'"v":2'), "invalid_field"),
    (encode(_batch()).replace(b'"delta":0.5', b'"delta":-0.5'), "invalid_field"),
    (encode(_batch(t_end_ms=T0)), "t_end_before_t_start"),
    (encode(_batch()).replace(b'"gateway":"g1"', b'"gateway":"g1","extra":1'), "invalid_field"),
])
def test_rejections_carry_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(WireError) as info:
        decode_batch(payload)
    assert info.value.reason == reason


def test_change_outside_interval_and_future_batches_are_rejected() -> None:
    bad = _batch()
    moved = msgspec.structs.replace(bad.machines[0], changes=[StateChange(T0 + 20_000, 1)])
    with pytest.raises(WireError, match="change_outside_interval"):
        decode_batch(encode(msgspec.structs.replace(bad, machines=[moved])))
    with pytest.raises(WireError, match="future_timestamp"):
        decode_batch(encode(bad), max_future_ms=1000, now_ms=T0 - 3_600_000)


@pytest.mark.parametrize(("signal", "reason"), [
    (SignalSamples(signal="bad", offsets_ms=[0, 1], values=[1.0]), "sample_arrays_differ"),
    (SignalSamples(signal="bad", offsets_ms=[0, 10_000], values=[1.0, 2.0]),
     "sample_outside_interval"),
    (SignalSamples(signal="bad", offsets_ms=[0, 1], values=[0.0, float("nan")]), "nan_value"),
    (SignalSamples(signal="bad", offsets_ms=[5], values=[float("-inf")]), "nan_value"),
])
def test_sample_faults_name_the_machine_and_signal(signal: SignalSamples, reason: str) -> None:
    """A batch made in code (JSON cannot carry NaN): every signal is checked, also one
    of a later machine behind good ones, and the reason names it."""
    good = _batch().machines[0]
    second = msgspec.structs.replace(good, machine="m2", samples=[*good.samples, signal])
    with pytest.raises(WireError) as info:
        check_batch(_batch(machines=[good, second]))
    assert info.value.reason == reason
    assert "m2/bad" in info.value.detail
    check_batch(_batch(machines=[good, msgspec.structs.replace(good, machine="m2")]))


@pytest.mark.parametrize("name", ["a\nb", "a b", "", "x" * 65, "a,b", "a=b", "温度", "a\\",
                                  "ok\n"])
def test_a_signal_name_that_is_no_id_is_rejected(name: str) -> None:
    """Signal names become line-protocol field keys: nothing but an id gets through
    (checked for all names of a batch in one pass, also a name hiding a newline)."""
    good = _batch().machines[0]
    bad = SignalSamples(signal=name, offsets_ms=[0], values=[1.0])
    second = msgspec.structs.replace(good, machine="m2", samples=[*good.samples, bad])
    with pytest.raises(WireError) as info:
        decode_batch(encode(_batch(machines=[good, second])))
    assert info.value.reason == "invalid_field"
    schema = json_schema()["$defs"]["SignalSamples"]["properties"]["signal"]  # type: ignore[index]
    assert schema["pattern"] == "^[A-Za-z0-9_.\\-]+$" and schema["maxLength"] == 64


def test_topic_layout_puts_site_and_gateway_in_the_path() -> None:
    topics = Topics(root="plantstream")
    gw = topics.gateway(site="s1", gateway="g1")
    assert gw.batch == "plantstream/v1/s1/g1/batch"
    assert topics.parse_gateway_topic(gw.batch) == ("s1", "g1", "batch")
    assert topics.parse_gateway_topic("plantstream/v1/deadletter/s1/g1") is None
    assert topics.shared("ingest", topics.all_batches) == "$share/ingest/plantstream/v1/+/+/batch"
