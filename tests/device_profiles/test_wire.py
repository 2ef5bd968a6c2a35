"""The wire contract of a reading: both encodings frozen byte for byte, the strict parse, the batch schema.

The expected texts were produced by the hand-written encoders this module replaced (the edge outbox's
`observation_body`, the sink's malformed body): gateways in the field keep bodies in this form in their
outbox files, so a change here is a change of the protocol, not a refactor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from device_profiles import Observation, load_catalogue, wire
from device_profiles.wire import WireReading

MEASURED = datetime(2026, 11, 23, 6, 30, tzinfo=timezone(timedelta(hours=1)))
RECEIVED = datetime(2026, 11, 23, 5, 31, 2, 500000, tzinfo=UTC)
WEIGHT = Observation("AA:BB:CC:DD:EE:FF", "body.weight", 80, "kg", MEASURED, RECEIVED, {"stable": True})
PRESS = Observation("btn", "alarm.button", 1, "1", None, RECEIVED)


def text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_the_gateway_form_is_unchanged() -> None:
    assert text(wire.observation_body(WEIGHT)) == (
        '{"device":"AA:BB:CC:DD:EE:FF","metric":"body.weight","value":80.0,"unit":"kg",'
        '"measured_at":"2026-11-23T06:30:00+01:00","received_at":"2026-11-23T05:31:02.500000+00:00",'
        '"context":{"stable":true}}'
    )
    assert text(wire.with_seq(3, wire.observation_body(PRESS))) == (
        '{"seq":3,"device":"btn","metric":"alarm.button","value":1.0,"unit":"1","measured_at":null,'
        '"received_at":"2026-11-23T05:31:02.500000+00:00","context":null}'
    )
    assert wire.with_seq(3, wire.observation_body(PRESS)) == WireReading.of(3, PRESS).encode()


def test_the_form_without_an_empty_context_leaves_out_only_the_context() -> None:
    sent = WireReading.of(7, PRESS)
    assert text(sent.encode(omit_empty_context=True)) == (
        '{"seq":7,"device":"btn","metric":"alarm.button","value":1.0,"unit":"1","measured_at":null,'
        '"received_at":"2026-11-23T05:31:02.500000+00:00"}'
    )
    assert WireReading.of(7, WEIGHT).encode(omit_empty_context=True) == WireReading.of(7, WEIGHT).encode()


def test_unreadable_input_is_a_reading_without_metric_value_or_unit() -> None:
    body = wire.unreadable_body("dev", RECEIVED, {"malformed": "short", "raw_hex": "0210", "raw_bytes": 2})
    assert list(body) == ["device", "metric", "value", "unit", "measured_at", "received_at", "context"]
    assert (body["metric"], body["value"], body["unit"], body["measured_at"]) == (None, None, None, None)
    assert body["context"] == {"malformed": "short", "raw_hex": "0210", "raw_bytes": 2}


def test_decode_reads_what_encode_writes_and_names_a_wrong_field() -> None:
    sent = WireReading.of(9, WEIGHT)
    assert wire.decode(json.loads(text(sent.encode()))) == sent
    assert wire.decode(json.loads(text(WireReading.of(9, PRESS).encode(omit_empty_context=True)))).context is None
    with pytest.raises(ValidationError, match="seq"):
        wire.decode({**sent.encode(), "seq": 0})
    with pytest.raises(ValidationError, match="received_at"):
        wire.decode({key: value for key, value in sent.encode().items() if key != "received_at"})


def test_the_batch_and_its_schema() -> None:
    assert wire.batch("e", iter([{"seq": 1}])) == {"epoch": "e", "observations": [{"seq": 1}]}
    schema = wire.batch_schema(50)
    items = schema["properties"]["observations"]
    assert items["maxItems"] == 50 and schema["required"] == ["epoch", "observations"]
    assert list(items["items"]["properties"]) == [
        "seq", "device", "metric", "value", "unit", "measured_at", "received_at", "context", "raised_locally"
    ]  # fmt: skip
    assert items["items"]["required"] == ["seq", "device", "metric", "value", "unit", "received_at"]
    # The descriptions are the docstrings under the fields (the types are dataclasses the gateway holds without
    # pydantic); a field without one has none.
    fields = items["items"]["properties"]
    seq = {"description": "Monotonic per outbox epoch", "minimum": 1, "title": "Seq", "type": "integer"}
    assert fields["seq"] == seq
    assert "description" not in fields["metric"]
    assert fields["raised_locally"]["anyOf"][0]["maxItems"] == wire.MAX_LOCAL_ATTEMPTS
    detail = items["items"]["$defs"]["LocalAttempt"]["properties"]["detail"]
    assert detail == {"description": "Which device or route; why it failed", "maxLength": 200, "title": "Detail",
                      "type": "string"}  # fmt: skip


def test_a_local_history_rides_on_the_reading_only_when_there_is_one() -> None:
    attempt = {"at": "2026-12-04T05:00:02+00:00", "path": "siren", "ok": True, "detail": "siren hall: answered"}
    plain = WireReading.of(9, PRESS).encode()
    assert "raised_locally" not in plain and wire.with_raised_locally(plain, []) == plain
    raised = wire.with_raised_locally(plain, [attempt] * 60)
    assert raised["raised_locally"] == [attempt] * wire.MAX_LOCAL_ATTEMPTS  # the newest kept
    decoded = wire.decode(json.loads(text(wire.with_raised_locally(plain, [attempt]))))
    assert decoded.raised_locally is not None and decoded.raised_locally[0].encode() == attempt
    assert json.loads(text(decoded.encode()))["raised_locally"] == [attempt]
    with pytest.raises(ValidationError, match="path"):
        wire.decode(wire.with_raised_locally(plain, [{**attempt, "path": "pigeon"}]))


def test_catalogue_facts_are_computed_once() -> None:
    catalogue = load_catalogue()
    assert {"alarm.button", "fall.detected"} <= catalogue.alarm_metrics
    assert catalogue.alarm_metrics is catalogue.alarm_metrics
    assert catalogue.alarm_metrics == {key for key, m in catalogue.metrics.items() if m.urgency == "alarm"}
    assert catalogue.stored_metrics == {key for key, m in catalogue.metrics.items() if not m.transient}
    assert "bp.cuff_pressure" not in catalogue.stored_metrics
