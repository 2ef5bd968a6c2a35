"""Whatever JSON a gateway sends, validation yields a reading PostgreSQL can store or a rejection whose
quarantine copy it can store: no input reaches the database in a form it refuses (a 5xx for the batch)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.validate import Reading, Rejection, storable, validate
from device_profiles import load_catalogue

CATALOGUE = load_catalogue()
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)

# Every code point, unpaired surrogates and NUL included (the JSON escapes \ud800 and \u0000 decode to them).
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)
metrics = st.sampled_from(sorted(CATALOGUE.metrics)) | any_text
moments = (
    st.sampled_from([(NOW - timedelta(minutes=3)).isoformat(), "2026-11-23T10:00:00", "1999-01-01T00:00:00+00:00"])
    | any_text
)


@st.composite
def readings(draw: st.DrawFn) -> Any:
    """Mostly reading-shaped objects with hostile fields, sometimes anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    fields = {
        "seq": draw(st.integers(min_value=-5, max_value=2**70) | json_values),
        "device": draw(st.sampled_from(["AA:BB:CC:DD:EE:FF"]) | any_text),
        "metric": draw(metrics),
        "value": draw(json_values),
        "unit": draw(st.sampled_from(["kg", "%", "/min", "Cel"]) | any_text),
        "received_at": draw(moments),
        "measured_at": draw(st.none() | moments),
        "context": draw(st.none() | st.dictionaries(any_text, json_values, max_size=3)),
    }
    return {key: value for key, value in fields.items() if draw(st.integers(0, 19)) > 0}


def _postgres_accepts(value: Any) -> None:
    """What jsonb and text refuse: NaN/Infinity, NUL, text that is not UTF-8."""
    encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    assert "\\u0000" not in encoded and "\x00" not in encoded
    encoded.encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(raw=readings())
def test_every_outcome_is_storable(raw: Any) -> None:
    checked = validate(raw, CATALOGUE, NOW)
    if isinstance(checked, Rejection):
        _postgres_accepts(storable(checked.raw))
        _postgres_accepts(checked.device)
    else:
        assert isinstance(checked, Reading)
        _postgres_accepts([checked.device, checked.metric, checked.unit, checked.context])
        assert checked.metric in CATALOGUE.metrics and isinstance(checked.value, float)
