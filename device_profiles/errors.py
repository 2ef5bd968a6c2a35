"""The exceptions device_profiles raises, and nothing else.

* `DecodeError` — a payload is structurally broken: fewer octets than its flags announce, a size field that
  contradicts the flags or the payload, or a field value the specification makes impossible. Every codec
  raises only this for bad bytes. A special value (NaN, NRes, INF), a failed E2E-CRC, reserved flag bits or
  trailing octets are *not* errors: they are reported in the decode context.
  `ReplayError` (a `DecodeError`) — an encrypted advertisement's counter went backwards.
* `CatalogueError` — a data file shipped with the package (metric or device catalogue) is invalid. Raised at load.
* `UnitError` — a value was offered in a unit that cannot be converted to the metric's canonical unit.
"""

from __future__ import annotations


class DecodeError(ValueError):
    """A payload that cannot be decoded. The message names the format, the octets received and the
    octets the format requires, so a single log line is enough to reproduce the problem."""

    def __init__(self, source: str, data: bytes, required: int | str, reason: str = "too short") -> None:
        self.source = source
        self.data = bytes(data)
        self.required = required
        self.reason = reason
        shown = self.data.hex().upper() or "(empty)"
        super().__init__(f"{source}: {reason}: received {len(self.data)} octets {shown}, required {required}")


class ReplayError(DecodeError):
    """An encrypted advertisement whose counter is lower than one already accepted from the device: a replay
    (or a device whose counter restarted, which needs its state reset by whoever pairs it)."""


class CatalogueError(ValueError):
    """A catalogue data file is invalid; the message says which file, entry and field, and why."""


class UnitError(ValueError):
    """No conversion from the given unit to the metric's canonical unit."""
