"""Which bleak backends the BLE code uses: the platform's (BlueZ on a gateway), or a replay world's.

This is the one seam between the agent and the radio: everything else (scanner, watchdog, GATT sessions,
pairing) is the same code whichever backend is plugged in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner

from edge.config import BleConfig


@dataclass(frozen=True, slots=True)
class Radio:
    """bleak backend classes; None means the platform default."""

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None
    adapter: str | None = None

    def scanner_kwargs(self) -> dict[str, Any]:
        """Extra arguments for `BleakScanner`."""
        kwargs: dict[str, Any] = {} if self.scanner is None else {"backend": self.scanner}
        if self.adapter:
            kwargs["bluez"] = {"adapter": self.adapter}
        return kwargs

    def client_kwargs(self) -> dict[str, Any]:
        """Extra arguments for `BleakClient` / `establish_connection`."""
        kwargs: dict[str, Any] = {} if self.client is None else {"backend": self.client}
        if self.adapter:
            kwargs["bluez"] = {"adapter": self.adapter}
        return kwargs


def radio_for(config: BleConfig) -> Radio:
    """The platform radio, or the replay world named by `replay_script` (tests, demo)."""
    if config.replay_script is None:
        return Radio(adapter=config.adapter)
    from edge.sources.ble_replay import ReplayWorld

    world = ReplayWorld.from_file(config.replay_script)
    return Radio(world.scanner_backend(), world.client_backend())
