"""The advertisement codecs by the name a device catalogue entry gives them (`codec`): the one dispatch table
the edge agent's BLE source, `tryggheim profiles decode` and the catalogue's vector tests share.

Each codec takes the device's state (None starts afresh) and returns the new one beside the readings, and
says how that state is written down and read back, because the edge agent keeps it in its outbox file so
that a restart neither repeats nor loses a press or a weighing. A codec imports its parser library on first
use (package docstring).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from device_profiles.sig import Decoded

if TYPE_CHECKING:
    from device_profiles.adv.bthome import BTHomeState
    from device_profiles.adv.xiaomi_scale import ScaleState

AdvState: TypeAlias = "BTHomeState | ScaleState"


@dataclass(frozen=True, slots=True)
class Heard:
    """One advertisement's service data, from which device, when, and the device's key when it has one."""

    data: bytes
    device_id: str
    received_at: datetime
    address: str | None = None
    bind_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class AdvertisementCodec:
    """A codec's decoder and state format; `keyed` when an encrypted device needs its bind key to be read."""

    name: str
    keyed: bool
    _decode: Callable[[Heard, AdvState | None], tuple[Decoded, AdvState]]
    _read: Callable[[Mapping[str, Any]], AdvState]

    def decode(self, heard: Heard, state: AdvState | None) -> tuple[Decoded, AdvState]:
        """The readings of one advertisement and the device's next state; raises `DecodeError`."""
        return self._decode(heard, state)

    def read_state(self, text: str | None) -> AdvState:
        """A state written by `state_text` (a fresh state for None)."""
        return self._read(json.loads(text) if text else {})


def state_text(state: AdvState) -> str:
    """The state as JSON text (octets in hex), for the edge agent's outbox file."""
    return json.dumps({k: v.hex() if isinstance(v, bytes) else v for k, v in asdict(state).items()})


def _bthome(heard: Heard, state: AdvState | None) -> tuple[Decoded, AdvState]:
    from device_profiles.adv.bthome import BTHomeState, decode_bthome

    return decode_bthome(
        heard.data,
        state if isinstance(state, BTHomeState) else BTHomeState(),
        device_id=heard.device_id,
        received_at=heard.received_at,
        address=heard.address,
        bind_key=heard.bind_key,
    )


def _read_bthome(raw: Mapping[str, Any]) -> AdvState:
    from device_profiles.adv.bthome import BTHomeState

    return BTHomeState(**raw)


def _scale(version: Literal[1, 2]) -> Callable[[Heard, AdvState | None], tuple[Decoded, AdvState]]:
    def decode(heard: Heard, state: AdvState | None) -> tuple[Decoded, AdvState]:
        from device_profiles.adv.xiaomi_scale import ScaleState, decode_xiaomi_scale

        return decode_xiaomi_scale(
            heard.data,
            state if isinstance(state, ScaleState) else ScaleState(),
            version=version,
            device_id=heard.device_id,
            received_at=heard.received_at,
        )

    return decode


def _read_scale(raw: Mapping[str, Any]) -> AdvState:
    from device_profiles.adv.xiaomi_scale import ScaleState

    weight, stamp = raw.get("weight_raw"), raw.get("stamp")
    return ScaleState(
        weight_raw=bytes.fromhex(weight) if isinstance(weight, str) and weight else None,
        stamp=bytes.fromhex(stamp) if isinstance(stamp, str) and stamp else None,
        impedance_sent=bool(raw.get("impedance_sent", False)),
    )


ADVERTISEMENT_CODECS: Final[Mapping[str, AdvertisementCodec]] = {
    codec.name: codec
    for codec in (
        AdvertisementCodec("bthome_v2", True, _bthome, _read_bthome),
        AdvertisementCodec("xiaomi_miscale_v1", False, _scale(1), _read_scale),
        AdvertisementCodec("xiaomi_miscale_v2", False, _scale(2), _read_scale),
    )
}
