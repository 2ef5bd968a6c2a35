"""Whatever JSON a gateway sends, validation yields a reading PostgreSQL can store or a rejection whose
quarantine copy it can store: no input reaches the database in a form it refuses (a 5xx for the batch), and
no input makes validation or the quarantine copy raise (issue 17: a 401-digit value, a time at the edge of
the calendar with a -14:00/+14:00 offset, JSON nested 500+ levels each failed a whole batch).

The extremes are drawn on purpose (integers to the interpreter's 4,300-digit limit for JSON, nesting to the
parser's 1,024 levels and far beyond, every offset at both ends of the calendar) and pinned with
`@example`, so every run reaches them. What comes out is handed to a real PostgreSQL."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from cloud.ingest.quarantine import MAX_KEPT_BYTES, MAX_KEPT_DEPTH, keep
from cloud.ingest.validate import Rejection, ValidReading, as_sent, validate
from device_profiles import load_catalogue
from tests.support.services import TestDatabase

pytestmark = pytest.mark.xdist_group("validate_properties")  # one worker creates the module's database
CATALOGUE = load_catalogue()
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
# orjson, the ingest body's parser, refuses nesting beyond 1,024 levels (its standard-library fallback stops
# earlier, at the interpreter's recursion limit); a reading sits two levels down in the body.
PARSER_DEPTH = 1024
READING_DEPTH = PARSER_DEPTH - 2
MAX_DIGITS = sys.get_int_max_str_digits()  # JSON integers longer than this never parse
UNITS = sorted({m.unit for m in CATALOGUE.metrics.values()} | {"[lb_av]", "g", "kPa", "[degF]", "mg/dL", "kg/L"})

# Every code point, unpaired surrogates and NUL included (the JSON escapes \ud800 and \u0000 decode to them).
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
huge_integers = st.builds(
    lambda digits, sign, low: sign * (10 ** (digits - 1) + low),
    st.integers(1, MAX_DIGITS), st.sampled_from([1, -1]), st.integers(0, 10**6),
)  # fmt: skip
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | huge_integers
    | st.floats(allow_nan=False)  # infinities included: 1e400 parses to one
    | st.sampled_from([sys.float_info.max, -sys.float_info.max, 5e-324, -0.0, 1e308, 2.0**53 + 1])
)
scalars = st.none() | st.booleans() | numbers | any_text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3), max_leaves=8
)


def nest(leaf: Any, depth: int, kinds: int = 0) -> Any:
    """`leaf` inside `depth` arrays and objects (the bits of `kinds` choose), built without recursion."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if kinds >> (level % 64) & 1 else [value]
    return value


deep_values = st.builds(nest, scalars, st.integers(0, READING_DEPTH), st.integers(0, 2**64 - 1))
offsets = st.integers(-24 * 60 + 1, 24 * 60 - 1).map(
    lambda m: f"{'-' if m < 0 else '+'}{abs(m) // 60:02}:{abs(m) % 60:02}"
)
edge_times = st.builds(
    lambda year, rest, offset: f"{year:04}-{rest}{offset}",
    st.sampled_from([1, 2, 1999, 2026, 9998, 9999]),
    st.sampled_from(["01-01T00:00:00", "12-31T23:59:59", "12-31T23:59:59.999999", "06-15T12:00:00"]),
    offsets,
)  # fmt: skip
moments = (
    st.sampled_from([(NOW - timedelta(minutes=3)).isoformat(), "2026-11-23T10:00:00", "1999-01-01T00:00:00+00:00"])
    | edge_times
    | any_text
)


@st.composite
def readings(draw: st.DrawFn) -> Any:
    """Mostly reading-shaped objects with hostile fields (a metric with its own unit half the time, so the
    value checks are reached), sometimes anything at all, sometimes deep."""
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return draw(json_values | deep_values)
    metric = draw(st.sampled_from(sorted(CATALOGUE.metrics)) | any_text)
    own_unit = CATALOGUE.metrics[metric].unit if metric in CATALOGUE.metrics else "kg"
    fields = {
        "seq": draw(st.integers(min_value=-5, max_value=2**70) | json_values),
        "device": draw(st.sampled_from(["AA:BB:CC:DD:EE:FF"]) | any_text),
        "metric": metric,
        "value": draw(numbers | json_values | (deep_values if roll == 1 else st.nothing())),
        "unit": draw(st.just(own_unit) | st.sampled_from(UNITS) | any_text),
        "received_at": draw(moments),
        "measured_at": draw(st.none() | moments),
        "context": draw(
            st.none() | st.dictionaries(any_text, json_values, max_size=3)
            | (deep_values.map(lambda v: {"x": v}) if roll == 2 else st.nothing())
        ),
        "extra": draw(deep_values if roll == 3 else st.none()),
    }  # fmt: skip
    return {key: value for key, value in fields.items() if draw(st.integers(0, 19)) > 0}


def _probe(**fields: Any) -> dict[str, Any]:
    """A well-formed body-weight reading with `fields` replaced."""
    body = {"seq": 7, "device": "AA:BB:CC:DD:EE:FF", "metric": "body.weight", "value": 80.5, "unit": "kg",
            "received_at": NOW.isoformat(), "measured_at": None}  # fmt: skip
    return {**body, **fields}


@pytest.fixture(scope="module")
def pg(ingest_db: TestDatabase) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(ingest_db.runtime_url, autocommit=True) as conn:
        yield conn


def _stored(pg: psycopg.Connection[Any], sql: str, *params: Any) -> None:
    """PostgreSQL accepts the values, in the types the ingest writes them with."""
    pg.execute(f"SELECT {sql}", params)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=readings())
# The three probes of issue 17, at the parser's limits.
@example(raw=_probe(value=10**400))
@example(raw=_probe(value=-(10 ** (MAX_DIGITS - 1))))
@example(raw=_probe(received_at="0001-01-01T00:00:00+14:00"))
@example(raw=_probe(received_at="9999-12-31T23:59:59-14:00"))
@example(raw=_probe(measured_at="0001-01-01T00:00:00+14:00"))
@example(raw=_probe(measured_at="9999-12-31T23:59:59-14:00"))
@example(raw=_probe(value=nest(1, READING_DEPTH - 1)))
@example(raw=_probe(context={"x": nest("y", READING_DEPTH - 2, kinds=2**64 - 1)}))
@example(raw=_probe(extra=nest(None, READING_DEPTH - 1)))
# Far beyond any parser: no part of validation or the quarantine copy recurses.
@example(raw=nest(_probe(), 100_000))
@example(raw=_probe(value=nest(0, 100_000), context={"x": nest(0, 100_000)}))
# Floats at and beyond the range, in the canonical unit and through a conversion.
@example(raw=_probe(value=sys.float_info.max))
@example(raw=_probe(value=sys.float_info.max, unit="[lb_av]"))
@example(raw=_probe(value=math.inf))
@example(raw=_probe(context={"x": math.inf}))
# NUL and unpaired surrogates wherever a string goes.
@example(raw=_probe(device="\ud800", metric="\x00", context={"\udfff": "\x00"}))
# The largest reading validation accepts: its validated form must be kept whole (release needs it).
@example(raw=_probe(device="\x01" * 200, context={"n": "\x01" * 675}))
def test_every_outcome_is_storable_and_nothing_raises(pg: psycopg.Connection[Any], raw: Any) -> None:
    checked = validate(raw, CATALOGUE, NOW)
    if isinstance(checked, Rejection):
        # The guard that turns an unexpected exception into `malformed` must not be what saved the batch.
        assert not checked.detail.startswith("the reading could not be checked"), checked.detail
        kept = keep(checked.raw)
        assert len(kept.payload.encode()) == kept.size <= MAX_KEPT_BYTES
        assert len(kept.digest) == 32 and kept.digest == keep(checked.raw).digest
        _stored(pg, "%s::jsonb, %s::text, %s::text", kept.payload, checked.device, checked.detail)
    else:
        assert isinstance(checked, ValidReading)
        assert checked.metric in CATALOGUE.metrics and math.isfinite(checked.value)
        context = Jsonb(checked.context) if checked.context else None
        _stored(pg, "%s::text, %s::text, %s::text, %s::jsonb, %s::float8", checked.device, checked.metric,
                checked.unit, context, checked.value)  # fmt: skip
        # Refused later (unknown device, no assignment, a reused sequence), it is kept whole for release.
        whole = keep(as_sent(checked))
        assert "quarantine_summary" not in orjson.loads(whole.payload)


@pytest.mark.parametrize("field", ["received_at", "measured_at"])
def test_every_offset_at_both_ends_of_the_calendar(field: str) -> None:
    """Every minute from -14:00 to +14:00, at the first and the last second of the calendar: the moment is
    before 2000, after now, or outside the calendar once in UTC; each one an `implausible_time`, none raises."""
    outside = 0
    for minutes in range(-14 * 60, 14 * 60 + 1):
        offset = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}"
        for moment in (f"0001-01-01T00:00:00{offset}", f"9999-12-31T23:59:59{offset}"):
            checked = validate(_probe(**{field: moment}), CATALOGUE, NOW)
            assert isinstance(checked, Rejection) and checked.reason == "implausible_time", (moment, checked)
            outside += "outside the calendar" in checked.detail
    assert outside == 2 * 14 * 60  # a positive offset in year 1, a negative one in 9999


def test_the_depth_drawn_is_the_parsers_limit() -> None:
    """The property test's deepest reading is exactly the deepest an ingest body can carry."""
    deepest = b'{"observations":[' + b"[" * READING_DEPTH + b"]" * READING_DEPTH + b"]}"
    assert orjson.loads(deepest)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b'{"observations":[[' + b"[" * READING_DEPTH + b"]" * READING_DEPTH + b"]]}")


def test_a_large_or_deep_payload_is_kept_as_a_bounded_summary() -> None:
    raw = _probe(value=nest(1, 5000), extra="x" * 100_000)
    kept = keep(raw)
    summary = orjson.loads(kept.payload)
    assert kept.size <= MAX_KEPT_BYTES and summary["quarantine_summary"]["depth"] == 5001
    assert summary["quarantine_summary"]["bytes"] > 100_000
    assert summary["quarantine_summary"]["sha256"] == kept.digest.hex()
    assert {k: summary[k] for k in ("seq", "device", "metric", "unit")} == {
        "seq": 7, "device": "AA:BB:CC:DD:EE:FF", "metric": "body.weight", "unit": "kg"
    }  # fmt: skip
    assert "value" not in summary  # not a short scalar
    shallow = keep(_probe(value=nest(1, MAX_KEPT_DEPTH - 1)))
    assert "quarantine_summary" not in orjson.loads(shallow.payload)
    assert "quarantine_summary" in orjson.loads(keep(_probe(value=nest(1, MAX_KEPT_DEPTH))).payload)


def test_an_unexpected_failure_in_the_checks_costs_that_reading_only(caplog: pytest.LogCaptureFixture) -> None:
    """The last line of defence: whatever raises inside the checks of one reading makes it `malformed`."""

    class Hostile(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            if key == "metric":
                raise RuntimeError("boom")
            return super().get(key, default)

    with caplog.at_level(logging.WARNING, logger="cloud.ingest.validate"):
        checked = validate(Hostile(_probe()), CATALOGUE, NOW)
    assert "seq=7 could not be checked (RuntimeError: boom)" in caplog.text
    assert isinstance(checked, Rejection)
    assert (checked.reason, checked.seq, checked.device) == ("malformed", 7, "AA:BB:CC:DD:EE:FF")
    assert checked.detail == "the reading could not be checked (RuntimeError)"
