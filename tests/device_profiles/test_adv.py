"""BTHome v2 and Xiaomi scale adapters: state rules (packet id, counter, downgrade, once per weighing) and
bad input. Encrypted frames are built here from the BTHome v2 encryption description (AES-CCM, 4-octet MIC,
nonce = MAC + 0xD2FC + device-info octet + counter), with a fixed test key."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from device_vectors import BUTTON_PRESS, MISCALE_V1_STABLE, MISCALE_V2_STABLE
from profile_helpers import RECEIVED

from device_profiles import DecodeError
from device_profiles.adv import (
    ADVERTISEMENT_CODECS,
    BTHomeState,
    Heard,
    ScaleState,
    decode_bthome,
    decode_xiaomi_scale,
    state_text,
)
from device_profiles.errors import ReplayError

KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
MAC = "A4:C1:38:0A:0B:0C"
ENCRYPTED_INFO = 0x45  # version 2, trigger-based, encrypted
NEW_DEVICE = BTHomeState()


def encrypt(objects_hex: str, counter: int, key: bytes = KEY, mac: str = MAC) -> bytes:
    counter_octets = counter.to_bytes(4, "little")
    nonce = bytes.fromhex(mac.replace(":", "")) + bytes([0xD2, 0xFC, ENCRYPTED_INFO]) + counter_octets
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, bytes.fromhex(objects_hex), None)
    return bytes([ENCRYPTED_INFO]) + sealed[:-4] + counter_octets + sealed[-4:]


def bthome(data: bytes | str, state: BTHomeState = NEW_DEVICE, **kwargs: object):  # type: ignore[no-untyped-def]
    raw = bytes.fromhex(data) if isinstance(data, str) else data
    return decode_bthome(raw, state, device_id="t", received_at=RECEIVED, **kwargs)  # type: ignore[arg-type]


def metrics(decoded) -> dict[str, float | str]:  # type: ignore[no-untyped-def]
    return {o.metric: o.value for o in decoded.observations}


def test_plain_button_press_then_same_packet_id_is_one_alarm() -> None:
    first, state = bthome(BUTTON_PRESS)
    again, state_again = bthome(BUTTON_PRESS, state)
    assert metrics(first)["alarm.button"] == 1
    assert again.observations == ()
    assert again.context["repeat_of"] == "packet_id"
    assert state_again == state == BTHomeState(packet_id=0x2A)


def test_next_packet_id_is_a_new_press() -> None:
    _, state = bthome(BUTTON_PRESS)
    second, _ = bthome("44 00 2B 01 64 3A 02", state)
    assert metrics(second)["alarm.button"] == 1


def test_encrypted_press_with_bind_key() -> None:
    decoded, state = bthome(encrypt("00 07 01 5F 3A 01", counter=5), address=MAC, bind_key=KEY)
    assert metrics(decoded) == {"device.battery": 95, "alarm.button": 1}
    assert state == BTHomeState(packet_id=7, counter=5, encrypted=True)


def test_encrypted_repeat_and_replay() -> None:
    frame = encrypt("00 07 3A 01", counter=5)
    _, state = bthome(frame, address=MAC, bind_key=KEY)
    repeat, _ = bthome(frame, state, address=MAC, bind_key=KEY)
    assert repeat.observations == ()
    with pytest.raises(ReplayError, match="replayed counter 4"):
        bthome(encrypt("00 08 3A 01", counter=4), state, address=MAC, bind_key=KEY)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"address": MAC, "bind_key": bytes(16)}, "decryption failed"),
        ({"address": "A4:C1:38:00:00:00", "bind_key": KEY}, "decryption failed"),
        ({"address": MAC}, "without a usable bind key"),
        ({"address": MAC, "bind_key": KEY[:15]}, "without a usable bind key"),
        ({"bind_key": KEY}, "needs the device address"),
    ],
)
def test_encrypted_without_the_right_key_is_an_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        bthome(encrypt("00 07 3A 01", counter=5), **kwargs)


def test_plain_frame_from_encrypting_device_is_a_downgrade() -> None:
    with pytest.raises(DecodeError, match="downgrade"):
        bthome(BUTTON_PRESS, BTHomeState(counter=5, encrypted=True))
    with pytest.raises(DecodeError, match="downgrade"):
        bthome(BUTTON_PRESS, bind_key=KEY, address=MAC)


@pytest.mark.parametrize(
    ("hex_text", "message"),
    [
        ("", "no device-info octet"),
        ("64 00 2A", "unknown BTHome version 3"),
        ("04 00 2A", "unknown BTHome version 0"),
        ("44 00 2A 01", "object 0x01 truncated"),
        ("44 00 2A 02 10", "object 0x02 truncated"),
        ("46 0C0B0A", "required 7"),
        ("45 00 01 02", "required 10"),
    ],
)
def test_malformed_bthome_is_a_decode_error(hex_text: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        bthome(hex_text)


def test_unknown_object_id_keeps_what_came_before() -> None:
    decoded, _ = bthome("44 00 2A 01 64 FE 01 3A 01")
    assert metrics(decoded) == {"device.battery": 100}
    assert decoded.context["stopped_at_unknown_object"] == "0xFE"


def test_miscale_v1_stabilised_once_per_weighing() -> None:
    data = bytes.fromhex(MISCALE_V1_STABLE)
    first, state = decode_xiaomi_scale(data, ScaleState(), version=1, device_id="t", received_at=RECEIVED)
    again, _ = decode_xiaomi_scale(data, state, version=1, device_id="t", received_at=RECEIVED)
    assert metrics(first) == {"body.weight": 71.5}
    assert again.observations == ()


@pytest.mark.parametrize(
    ("version", "hex_text"),
    [
        (1, "02 DC37 E907 01 0F 07 1E 05"),  # not stabilised
        (1, "A2 DC37 E907 01 0F 07 1E 05"),  # stabilised but removed
        (2, "02 02 E907010F071E05 F401 DC37"),  # not stabilised
        (2, "02 A2 E907010F071E05 F401 DC37"),  # removed
    ],
)
def test_unstable_or_removed_weight_is_no_reading(version: int, hex_text: str) -> None:
    decoded, state = decode_xiaomi_scale(
        bytes.fromhex(hex_text),
        ScaleState(),
        version=version,
        device_id="t",
        received_at=RECEIVED,  # type: ignore[arg-type]
    )
    assert decoded.observations == ()
    assert state == ScaleState()


def test_body_composition_impedance_arrives_in_a_later_frame() -> None:
    weight_only = bytes.fromhex("02 20 E907010F071E05 0000 DC37")
    with_impedance = bytes.fromhex(MISCALE_V2_STABLE.replace("071E05", "071E07"))  # two seconds later
    first, state = decode_xiaomi_scale(weight_only, ScaleState(), version=2, device_id="t", received_at=RECEIVED)
    second, state = decode_xiaomi_scale(with_impedance, state, version=2, device_id="t", received_at=RECEIVED)
    third, _ = decode_xiaomi_scale(with_impedance, state, version=2, device_id="t", received_at=RECEIVED)
    assert metrics(first) == {"body.weight": 71.5}
    assert metrics(second) == {"body.impedance": 500}
    assert third.observations == ()


def test_wrong_scale_length_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="required 13"):
        decode_xiaomi_scale(bytes(12), ScaleState(), version=2, device_id="t", received_at=RECEIVED)


def test_each_codecs_state_survives_being_written_down_and_read_back() -> None:
    """The edge agent keeps a device's state as text in its outbox file across restarts."""
    _, pressed = decode_bthome(bytes.fromhex(BUTTON_PRESS), NEW_DEVICE, device_id="t", received_at=RECEIVED)
    _, weighed = decode_xiaomi_scale(bytes.fromhex(MISCALE_V2_STABLE), ScaleState(), version=2, device_id="t",
                                     received_at=RECEIVED)  # fmt: skip
    assert pressed.packet_id is not None and weighed.weight_raw is not None
    for name, state in (("bthome_v2", pressed), ("xiaomi_miscale_v2", weighed)):
        codec = ADVERTISEMENT_CODECS[name]
        assert codec.read_state(state_text(state)) == state
        assert codec.read_state(None) == type(state)()


def test_a_codec_given_another_codecs_state_starts_afresh() -> None:
    heard = Heard(bytes.fromhex(MISCALE_V1_STABLE), "t", RECEIVED)
    codec = ADVERTISEMENT_CODECS["xiaomi_miscale_v1"]
    assert codec.decode(heard, BTHomeState(packet_id=3)) == codec.decode(heard, None)
