"""The Observation type shared by edge and cloud."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from device_profiles import Observation

NOW = datetime(2025, 1, 15, 9, 0, tzinfo=UTC)


def test_frozen_slotted_and_hashable() -> None:
    reading = Observation("dev", "spo2", 97, "%", None, NOW, {"source": "test"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.value = 12  # type: ignore[misc]
    assert not hasattr(reading, "__dict__")
    assert hash(reading) == hash(Observation("dev", "spo2", 97, "%", None, NOW, {"other": 1}))


def test_context_cannot_be_changed_behind_its_back() -> None:
    context = {"cuff": "left arm"}
    reading = Observation("dev", "bp.systolic", 120, "mm[Hg]", NOW, NOW, context)
    context["cuff"] = "right arm"
    assert reading.context["cuff"] == "left arm"
    with pytest.raises(TypeError):
        reading.context["cuff"] = "x"  # type: ignore[index]


@pytest.mark.parametrize("field", ["measured_at", "received_at"])
def test_naive_times_are_refused(field: str) -> None:
    kwargs = {"measured_at": NOW, "received_at": NOW, field: datetime(2025, 1, 1)}  # noqa: DTZ001
    with pytest.raises(ValueError, match=field):
        Observation(device_id="dev", metric="spo2", value=97, unit="%", **kwargs)
