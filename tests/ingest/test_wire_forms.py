"""The cloud's side of the wire contract (device_profiles/wire.py): the documented body is the contract's, and
the copy of a validated reading kept when it is refused later is byte for byte what it always was (its
digest makes a re-sent refusal idempotent in the quarantine)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import FastAPI

from cloud.api import ingest
from cloud.ingest.validate import ValidReading, as_sent, validate
from device_profiles import load_catalogue, wire

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
RECEIVED = "2026-11-23T05:31:02.5+00:00"


def _valid(raw: dict[str, object]) -> ValidReading:
    checked = validate(raw, load_catalogue(), NOW)
    assert isinstance(checked, ValidReading), checked
    return checked


def test_the_copy_of_a_refused_reading_is_unchanged() -> None:
    plain = _valid({"seq": 7, "device": "x", "metric": "body.weight", "value": 80.5, "unit": "kg",
                    "measured_at": "2026-11-23T06:30:00+01:00", "received_at": RECEIVED})  # fmt: skip
    assert json.dumps(as_sent(plain), separators=(",", ":")) == (
        '{"seq":7,"device":"x","metric":"body.weight","value":80.5,"unit":"kg",'
        '"measured_at":"2026-11-23T05:30:00+00:00","received_at":"2026-11-23T05:31:02.500000+00:00"}'
    )
    converted = _valid({"seq": 8, "device": "x", "metric": "body.weight", "value": 180, "unit": "[lb_av]",
                        "received_at": RECEIVED, "context": {"n": 1}})  # fmt: skip
    assert json.dumps(as_sent(converted), separators=(",", ":")) == (
        '{"seq":8,"device":"x","metric":"body.weight","value":81.6466266,"unit":"kg","measured_at":null,'
        '"received_at":"2026-11-23T05:31:02.500000+00:00","context":{"n":1}}'
    )


def test_the_documented_body_is_the_wire_contract() -> None:
    app = FastAPI()
    app.include_router(ingest.router)
    body = app.openapi()["paths"]["/api/v1/ingest"]["post"]["requestBody"]
    assert body["required"] is True
    # FastAPI writes the document without null values (a `default` of None included).
    assert body["content"]["application/json"]["schema"] == _without_nulls(wire.batch_schema(ingest.MAX_READINGS))


def _without_nulls(schema: object) -> object:
    if isinstance(schema, dict):
        return {key: _without_nulls(value) for key, value in schema.items() if value is not None}
    if isinstance(schema, list):
        return [_without_nulls(value) for value in schema]
    return schema
