"""The shared home simulator: pure and seeded (no I/O, no clock), so the edge agent's simulator source, the
detection scenario suite and the demo all draw on one generator of readings and raw device payloads.

The home and its devices are exported here; what can happen in it is in `device_profiles.sim.scenarios`."""

from device_profiles.sim.home import (
    DEFAULT_PROFILES,
    HomeSimulator,
    Payload,
    SimEvent,
    VirtualDevice,
    default_devices,
)

__all__ = [
    "DEFAULT_PROFILES",
    "HomeSimulator",
    "Payload",
    "SimEvent",
    "VirtualDevice",
    "default_devices",
]
