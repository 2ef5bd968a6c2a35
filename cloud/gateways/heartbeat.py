"""How often a gateway is expected to send a heartbeat: the gateway config and the fleet view's "offline"
both read it from here."""

from __future__ import annotations

from collections.abc import Iterable

from device_profiles import load_catalogue
from device_profiles.device_catalogue import load_devices

DEFAULT_HEARTBEAT_ALARM_S = 60
# A third of the liveness rule's 15 minutes (alerts/protocols/_liveness.yaml): one late or lost heartbeat of a
# healthy gateway never makes it "not heard from for 15 minutes".
DEFAULT_HEARTBEAT_S = 5 * 60
# A gateway clock further off than this is flagged (and its readings carry the skew in their context).
SKEW_FLAG_S = 60


def _alarm_profiles() -> frozenset[str]:
    """Devices whose catalogue entry reports an alarm-class metric (a safety alarm button, a fall sensor):
    a kit with one needs the short heartbeat, so a dead gateway is noticed within minutes."""
    alarm = load_catalogue().alarm_metrics
    return frozenset(profile_id for profile_id, device in load_devices().entries.items() if alarm & set(device.metrics))


ALARM_PROFILES = _alarm_profiles()


def expected_interval_s(configured: int | None, profile_ids: Iterable[str]) -> int:
    """The configured interval, else 60 s for a kit with an alarm-class device, else 5 minutes."""
    if configured:
        return configured
    return DEFAULT_HEARTBEAT_ALARM_S if any(p in ALARM_PROFILES for p in profile_ids) else DEFAULT_HEARTBEAT_S
