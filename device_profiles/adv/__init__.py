"""Advertisement adapters over bthome-ble and xiaomi-ble: the one part of device_profiles that imports the BLE
stack (habluetooth, bleak). Installed with the `edge` extra and imported only where an advertisement is decoded;
`import device_profiles` never loads it.

Decoders here keep no memory of their own: each takes the device's state value and returns the new one
beside the decoded readings, so the caller (the edge agent, a test, the CLI) owns and persists it.
`ADVERTISEMENT_CODECS` is the dispatch table by the catalogue's codec name.
"""

from device_profiles.adv.bthome import BTHomeState, decode_bthome
from device_profiles.adv.codecs import ADVERTISEMENT_CODECS, AdvertisementCodec, AdvState, Heard, state_text
from device_profiles.adv.xiaomi_scale import ScaleState, decode_xiaomi_scale

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
