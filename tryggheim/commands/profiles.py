"""`tryggheim profiles ...`: device profiles from the command line (decode a payload by hand)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from tryggheim.commands._startup import fail

if TYPE_CHECKING:
    from device_profiles import Decoded
    from device_profiles.device_catalogue import DeviceEntry

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Device profiles: the catalogue and decoding payloads."
)


@app.callback()
def _group() -> None:
    """Device profiles: the catalogue and decoding payloads."""


def _octets(hex_text: str, option: str = "--hex") -> bytes:
    try:
        return bytes.fromhex(hex_text)
    except ValueError:
        fail(f"{option}: not hexadecimal octets: {hex_text!r}")


def _uuid(fmt: str) -> int:
    text = fmt.lower().removeprefix("0x")
    try:
        return int(text, 16)
    except ValueError:
        fail(f"--format: expected sfloat, float or a characteristic UUID such as 0x2A35, got {fmt!r}")


def _advertisement_formats() -> list[str]:
    """The advertisement codecs' names, from the pure catalogue schema: the codecs themselves need the parser
    libraries of the `edge` extra, imported only when one is asked for."""
    from device_profiles.device_catalogue import CODECS_BY_TRANSPORT

    return sorted(CODECS_BY_TRANSPORT["ble_adv"])


def _observations_json(decoded: Decoded) -> dict[str, object]:
    return {
        "observations": [
            {
                "metric": o.metric,
                "value": o.value,
                "unit": o.unit,
                "measured_at": None if o.measured_at is None else o.measured_at.isoformat(),
            }
            for o in decoded.observations
        ],
        "context": decoded.context,
    }


def _decode_characteristic(fmt: str, data: bytes, zone: str) -> dict[str, object]:
    from device_profiles import CHARACTERISTICS, decode_characteristic, decode_float, decode_sfloat
    from device_profiles.numbers import plain

    number_codecs = {"sfloat": decode_sfloat, "float": decode_float}
    if fmt.lower() in number_codecs:
        number = number_codecs[fmt.lower()](data)
        value = number.value
        return {"value": None if value is None else plain(value), "special": number.special}
    uuid = _uuid(fmt)
    if uuid not in CHARACTERISTICS:
        known = ", ".join([*_advertisement_formats(), *(f"0x{u:04X}" for u in sorted(CHARACTERISTICS))])
        fail(f"--format: no decoder for 0x{uuid:04X}; known: sfloat, float, {known}")
    try:
        device_zone = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--zone: unknown time zone {zone!r}")
    decoded = decode_characteristic(uuid, data, device_id="cli", received_at=datetime.now(UTC), zone=device_zone)
    return _observations_json(decoded)


def _decode_advertisement(fmt: str, data: bytes, key: str | None, address: str | None) -> dict[str, object]:
    # The parser libraries log every oddity at WARNING; the command's contract is one stderr line on failure.
    logging.getLogger("bthome_ble").setLevel(logging.CRITICAL)
    logging.getLogger("xiaomi_ble").setLevel(logging.CRITICAL)
    from device_profiles.adv import ADVERTISEMENT_CODECS, Heard

    codec = ADVERTISEMENT_CODECS[fmt]
    bind_key = None if key is None or not codec.keyed else _octets(key, "--key")
    decoded, _ = codec.decode(Heard(data, "cli", datetime.now(UTC), address, bind_key), None)
    return _observations_json(decoded)


def _decode_mqtt(profile: str, payload: str, topic: str | None) -> dict[str, object]:
    from device_profiles.mqtt_mapping import map_payload

    entry = _entry(profile)
    if entry.mapping is None:
        fail(f"--profile: {profile} is a {entry.transport} device; use --format and --hex")
    if topic is not None and not entry.match.topic_matches(topic):
        fail(f"--topic: {topic!r} does not match {entry.match.topic!r} of {profile}")
    device_id = "cli" if topic is None else topic.rsplit("/", 1)[-1]
    return _observations_json(map_payload(entry.mapping, payload, device_id=device_id, received_at=datetime.now(UTC)))


@app.command()
def decode(
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="sfloat, float, a characteristic UUID (0x2A35), bthome_v2, xiaomi_miscale_v1|v2."
        ),
    ] = None,
    hex_text: Annotated[str | None, typer.Option("--hex", help="The octets as sent on the air, in hex.")] = None,
    zone: Annotated[str, typer.Option("--zone", help="Time zone of the device clock.")] = "Europe/Oslo",
    key: Annotated[str | None, typer.Option("--key", help="BTHome bind key (32 hex digits).")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Device MAC for BTHome decryption.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Catalogue id of an MQTT device.")] = None,
    payload: Annotated[str | None, typer.Option("--json", help="An MQTT JSON payload (with --profile).")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="The MQTT topic it arrived on.")] = None,
) -> None:
    """Decode one payload and print one JSON object; a malformed payload exits 2."""
    from device_profiles import DecodeError

    try:
        if profile is not None or payload is not None:
            if profile is None or payload is None or fmt is not None or hex_text is not None:
                fail("give --profile with --json, or --format with --hex")
            output = _decode_mqtt(profile, payload, topic)
        else:
            if fmt is None or hex_text is None:
                fail("give --format with --hex, or --profile with --json")
            data = _octets(hex_text)
            if fmt.lower() in _advertisement_formats():
                output = _decode_advertisement(fmt.lower(), data, key, address)
            else:
                output = _decode_characteristic(fmt, data, zone)
    except DecodeError as exc:
        fail(str(exc))
    typer.echo(json.dumps(output, ensure_ascii=False))


def _entry(profile: str) -> DeviceEntry:
    from device_profiles.device_catalogue import load_devices

    devices = load_devices()
    if profile not in devices:
        fail(f"--profile: no catalogue entry {profile!r}; see `tryggheim profiles list`")
    return devices[profile]


@app.command("list")
def list_devices() -> None:
    """List the device catalogue: one line per product (id, vendor, model, transport, verified)."""
    from device_profiles.device_catalogue import load_devices

    for entry in load_devices().products:
        mark = "" if entry.verified else "  (unverified)"
        typer.echo(f"{entry.id:40} {entry.identity.vendor:20} {entry.identity.model:24} {entry.transport}{mark}")


@app.command()
def show(profile: Annotated[str, typer.Argument(help="A catalogue id, see `tryggheim profiles list`.")]) -> None:
    """Print one catalogue entry, with `extends` resolved, as JSON."""
    from pydantic import TypeAdapter

    from device_profiles.device_catalogue import DeviceEntry

    document = TypeAdapter(DeviceEntry).dump_python(_entry(profile), mode="json")
    typer.echo(json.dumps(document, ensure_ascii=False, indent=2))


@app.command()
def docs(
    output: Annotated[Path, typer.Option("--output", help="Where to write the page.")] = Path("docs/devices.md"),
) -> None:
    """Write docs/devices.md from the device catalogue."""
    from device_profiles.device_catalogue import load_devices
    from device_profiles.device_docs import render_devices

    output.write_text(render_devices(load_devices()), encoding="utf-8")
    typer.echo(f"wrote {output}")


@app.command()
def prepare() -> None:
    """Write device_profiles/prepared.json from the catalogues' YAML files (after editing one of them)."""
    from importlib.resources import files

    from device_profiles.prepared import PREPARED, prepared_text

    output = Path(str(files("device_profiles").joinpath(PREPARED)))
    output.write_text(prepared_text(), encoding="utf-8")
    typer.echo(f"wrote {output}")
