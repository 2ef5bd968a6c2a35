"""The sink every source writes to: observations into the outbox, malformed input counted and forwarded.

Malformed input (bytes no codec can read) is counted on every occurrence, logged once per device, and
forwarded to the cloud at most once per device per `malformed_forward_interval_s`, so the fleet view shows
"this device sends garbage" without a broken sensor flooding the uplink. It is forwarded as a reading the
ingest API quarantines with reason `malformed`: metric, unit and value are null (the validator's "metric and
unit must be strings" check), and the context carries the reason and the raw bytes in hex. This reuses the
existing quarantine path instead of adding an endpoint, and the forwarded row has a sequence number like any
other, so it is delivered exactly as reliably and then deleted when committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from device_profiles import Observation
from device_profiles.wire import unreadable_body
from edge.cloudlink import CloudLink
from edge.outbox import Delivery, Outbox
from edge.uplink import Uplink

log = logging.getLogger("tryggheim.edge.sink")
MAX_RAW_HEX = 2000  # the cloud keeps at most 4 kB of context


class Sink:
    """Durable hand-off from sources to the uplink."""

    def __init__(self, outbox: Outbox, uplink: Uplink | None, cloud: CloudLink | None,
                 malformed_interval_s: float = 600.0) -> None:  # fmt: skip
        self.outbox = outbox
        self.uplink = uplink
        self.cloud = cloud
        self.malformed_interval_s = malformed_interval_s
        self._logged: set[str] = set()
        self._alarm_metrics = outbox.alarm_metrics

    def seen(self, address: str, profile_id: str) -> None:
        """A source recognised a device: propose it to the cloud unless it is already assigned."""
        if self.cloud is not None:
            self.cloud.discovered.setdefault(address, profile_id)

    def heard(self, address: str, *, rssi_dbm: object = None, link_quality: object = None) -> None:
        """A served device's signal as a source heard it, for the heartbeat (edge/health.py)."""
        if self.cloud is not None:
            self.cloud.signals.heard(address, rssi_dbm=rssi_dbm, link_quality=link_quality)

    def observations(self, items: Iterable[Observation], state: Mapping[str, str] | None = None,
                     delivery: Delivery | None = None) -> list[int]:  # fmt: skip
        """Store readings durably (with the source's progress, or the broker's delivery, in the same
        transaction) and wake the uplink."""
        batch = list(items)
        seqs = self.outbox.append(batch, state=state, delivery=delivery)
        if self.uplink is not None and batch:
            self.uplink.notify(alarm=any(o.metric in self._alarm_metrics for o in batch))
        return seqs

    def malformed(self, device: str, raw: bytes, reason: str, state: Mapping[str, str] | None = None,
                  delivery: Delivery | None = None) -> bool:  # fmt: skip
        """Count (also as the device's decode error) and maybe forward unreadable input; returns True when it
        was queued for the cloud."""
        if device not in self._logged:
            self._logged.add(device)
            log.warning("malformed input from %s: %s (raw %s); further ones are counted, not logged",
                        device, reason, raw[:64].hex())  # fmt: skip
        now = time.time()
        last = self.outbox.get_state(f"malformed_forwarded:{device}")
        forward = last is None or now - float(last) >= self.malformed_interval_s
        bodies: list[tuple[dict[str, Any], bool]] = []
        updates = dict(state or {})
        if forward:
            bodies.append((self.malformed_body(device, raw, reason), False))
            updates[f"malformed_forwarded:{device}"] = str(now)
        self.outbox.append_bodies(bodies, updates, count_malformed=1, malformed_from=device, delivery=delivery)
        if forward and self.uplink is not None:
            self.uplink.notify(alarm=False)
        return forward

    @staticmethod
    def malformed_body(device: str, raw: bytes, reason: str) -> dict[str, Any]:
        """The ingest reading the cloud quarantines as `malformed`, keeping the reason and the raw bytes."""
        context = {"malformed": reason[:300], "raw_hex": raw.hex()[:MAX_RAW_HEX], "raw_bytes": len(raw)}
        return unreadable_body(device, datetime.now(UTC), context)
