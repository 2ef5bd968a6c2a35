"""Advertisement adapters over bthome-ble and xiaomi-ble: the one part of device_profiles that imports the BLE
stack (habluetooth, bleak). Installed with the `edge` extra and imported only where an advertisement is decoded;
`import device_profiles` never loads it.

Decoders here keep no memory of their own: each takes the device's state value and returns the new one
beside the decoded readings, so the caller (the edge agent, a test, the CLI) owns and persists it.
`ADVERTISEMENT_CODECS` is the dispatch table by the catalogue's codec name. Importing this package loads
neither parser library: each is loaded when its first advertisement is decoded (or one of its names below is
used), because together they cost a gateway about 16 MB of memory and a home rarely has both kinds; their
encryption libraries wait for the first encrypted advertisement (`_deferred`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from device_profiles.adv.codecs import ADVERTISEMENT_CODECS, AdvertisementCodec, AdvState, Heard, state_text

if TYPE_CHECKING:
    from device_profiles.adv.bthome import BTHomeState, decode_bthome
    from device_profiles.adv.xiaomi_scale import ScaleState, decode_xiaomi_scale

_LAZY = {
    "BTHomeState": "device_profiles.adv.bthome",
    "decode_bthome": "device_profiles.adv.bthome",
    "ScaleState": "device_profiles.adv.xiaomi_scale",
    "decode_xiaomi_scale": "device_profiles.adv.xiaomi_scale",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ADVERTISEMENT_CODECS",
    "AdvState",
    "AdvertisementCodec",
    "BTHomeState",
    "Heard",
    "ScaleState",
    "decode_bthome",
    "decode_xiaomi_scale",
    "state_text",
]
