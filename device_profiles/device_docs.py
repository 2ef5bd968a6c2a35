"""`docs/devices.md`, generated from the device catalogue (`tryggheim profiles docs` writes it)."""

from __future__ import annotations

from device_profiles.device_catalogue import DeviceCatalogue, DeviceEntry

_HEADER = """# Supported devices

Generated from `device_profiles/devices/*.yaml` by `tryggheim profiles docs`; do not edit by hand.
An entry marked **unverified** could not be checked against its source: check it on a real unit before use.
"""


def render_devices(catalogue: DeviceCatalogue) -> str:
    """The Markdown page: one section per family, one table row per product, then each product's details."""
    lines = [_HEADER]
    for family, description in sorted(catalogue.families.items()):
        members = [entry for entry in catalogue.products if entry.family == family]
        lines += [f"## {family}", "", description, ""]
        lines += ["| Id | Vendor | Model | Transport | Codec | Metrics | Reporting | Verified |", "|" + "---|" * 8]
        lines += [_row(entry) for entry in members]
        lines.append("")
        for entry in members:
            lines += _details(entry)
    return "\n".join(lines).rstrip() + "\n"


def _row(entry: DeviceEntry) -> str:
    reporting: str = entry.reporting.mode
    if entry.reporting.interval_s is not None:
        reporting += f" every {entry.reporting.interval_s} s"
    cells = (
        f"`{entry.id}`",
        entry.identity.vendor,
        entry.identity.model,
        entry.transport,
        entry.codec,
        ", ".join(entry.metrics),
        reporting,
        "yes" if entry.verified else "**unverified**",
    )
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _details(entry: DeviceEntry) -> list[str]:
    match = entry.match
    rules = [
        ("service UUIDs", ", ".join(match.service_uuids)),
        ("service data UUID", match.service_data_uuid or ""),
        ("local name", f"`{match.local_name}`" if match.local_name else ""),
        ("topic", f"`{match.topic}`" if match.topic else ""),
        ("Zigbee model", ", ".join(match.zigbee_model)),
    ]
    lines = [f"### {entry.identity.name} (`{entry.id}`)", ""]
    if entry.extends:
        lines.append(f"- extends `{entry.extends}`")
    lines += [f"- match {label}: {value}" for label, value in rules if value]
    if entry.characteristics:
        lines.append(f"- characteristics: {', '.join(entry.characteristics)}")
    if entry.mapping is not None:
        fields = ", ".join(f"`{name}` -> {rule.metric}" for name, rule in entry.mapping.fields.items())
        lines.append(f"- fields: {fields}")
    if entry.post:
        lines.append(f"- post-processing: {', '.join(entry.post)}")
    supervision = entry.reporting.supervision
    if supervision:
        lines.append(f"- supervision: {supervision}")
    if entry.reporting.battery_interval_s is not None:
        lines.append(f"- battery reported about every {entry.reporting.battery_interval_s} s")
    lines.append(f"- source ({entry.source.kind}): {entry.source.ref}")
    if entry.source.note:
        lines.append(f"- note: {entry.source.note}")
    lines.append("")
    return lines
