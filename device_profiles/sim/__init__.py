"""The shared home simulator: pure and seeded (no I/O, no clock), so the edge agent's simulator source, the
detection scenario suite and the demo all draw on one generator of readings and raw device payloads."""

from device_profiles.sim.home import (
    DEFAULT_PROFILES,
    HomeSimulator,
    Payload,
    SimEvent,
    VirtualDevice,
    default_devices,
)
from device_profiles.sim.scenarios import (
    AlarmPress,
    ClothesOnScale,
    ColdFinger,
    GarbagePayload,
    Scenario,
    VitalShift,
    WeightGain,
)

__all__ = [
    "DEFAULT_PROFILES",
    "AlarmPress",
    "ClothesOnScale",
    "ColdFinger",
    "GarbagePayload",
    "HomeSimulator",
    "Payload",
    "Scenario",
    "SimEvent",
    "VirtualDevice",
    "VitalShift",
    "WeightGain",
    "default_devices",
]
