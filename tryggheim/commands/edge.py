"""`tryggheim edge ...`: the gateway agent. Imports only the edge extra (httpx), never the cloud stack."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tryggheim.commands._startup import fail

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.pair import Candidate

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The gateway agent.")
ConfigOption = Annotated[Path, typer.Option("--config", help="The gateway's TOML config file.")]
DEFAULT_CONFIG = Path("/etc/tryggheim/gateway.toml")


@app.callback()
def _group() -> None:
    """The gateway agent."""


def _config(path: Path) -> GatewayConfig:
    from edge.config import ConfigError, read_config
    from edge.run import fail

    try:
        return read_config(path)
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def run(config: ConfigOption = DEFAULT_CONFIG, log_level: str = "INFO") -> None:
    """Run the agent until SIGTERM or SIGINT."""
    # The agent runs in this process (same id, for systemd's notify socket and watchdog) but as a fresh program
    # without the CLI machinery loaded here: edge/run.py says why.
    argv = [sys.executable, "-m", "edge.run", "--config", str(config), "--log-level", log_level]
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and module, no shell


@app.command()
def enrol(
    cloud: Annotated[str, typer.Option("--cloud", help="The cloud's base URL (https://...).")],
    code: Annotated[str, typer.Option("--code", help="The enrolment code from the installer's screen.")],
    config: ConfigOption = DEFAULT_CONFIG,
    insecure_dev: Annotated[bool, typer.Option("--insecure-dev", help="Allow http:// (development only).")] = False,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="Extra CA certificate to trust.")] = None,
    wait_seconds: Annotated[
        float,
        typer.Option(
            "--wait-seconds",
            min=0,
            max=86400,
            help="How long to wait for the installer to confirm the home on the enrolment page.",
        ),
    ] = 1800,
    retry_seconds: Annotated[float, typer.Option("--retry-seconds", min=0.2, max=60, help="Ask again this often.")] = 3,
) -> None:
    """Exchange an enrolment code for the gateway credential and write the config (waiting, while the cloud
    says so, for the installer to confirm the home on the enrolment page)."""
    from edge.enrol import EnrolmentError
    from edge.enrol import enrol as do_enrol
    from edge.http import InsecureURLError

    try:
        gateway_id = do_enrol(cloud, code, config, insecure_dev=insecure_dev, ca_file=ca_file, wait_s=wait_seconds,
                              every_s=retry_seconds, on_wait=lambda text: print(text, flush=True))  # fmt: skip
    except (EnrolmentError, InsecureURLError) as exc:
        fail(str(exc))
    print(f"enrolled: gateway {gateway_id}; config written to {config}")


@app.command()
def status(config: ConfigOption = DEFAULT_CONFIG, as_json: bool = typer.Option(False, "--json")) -> None:
    """Outbox depth, last upload, each device's last reading, eviction and error counts."""
    from edge.status import read_status, render

    snapshot = read_status(_config(config).outbox_path)
    print(json.dumps(snapshot) if as_json else render(snapshot), end="\n" if as_json else "")


quarantine_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Readings the cloud refused, kept on the gateway."
)
app.add_typer(quarantine_app, name="quarantine")
SeqOption = Annotated[list[int] | None, typer.Option("--seq", help="A quarantined reading's sequence number (repeat).")]
AllOption = Annotated[bool, typer.Option("--all", help="Every quarantined reading.")]


def _quarantine_action(config: Path, seqs: list[int] | None, every: bool, action: str) -> None:
    """Release or discard quarantined readings in the outbox file (safe while the agent runs: SQLite locks)."""
    from edge.agent import open_outbox

    if every == bool(seqs):
        fail("name the readings with --seq (repeatable) or use --all")
    settings = _config(config)
    if not settings.outbox_path.exists():
        fail(f"{settings.outbox_path}: no outbox yet (the agent has not run), so nothing is quarantined")
    outbox = open_outbox(settings)
    try:
        wanted = None if every else set(seqs or ())
        done = outbox.release_quarantined(wanted) if action == "retry" else outbox.discard_quarantined(wanted)
    finally:
        outbox.close()
    missing = sorted(set(seqs or ()) - set(done))
    if done:
        verb = "back in the outbox, sent with the next batch" if action == "retry" else "discarded for good"
        print(f"{', '.join(map(str, done))}: {verb}")
    if missing:
        fail(f"not in the gateway's quarantine: {', '.join(map(str, missing))}")
    if not done:
        print("the gateway's quarantine is empty")


@quarantine_app.command()
def retry(config: ConfigOption = DEFAULT_CONFIG, seq: SeqOption = None, every: AllOption = False) -> None:
    """Put quarantined readings back in the outbox: the agent sends them again."""
    _quarantine_action(config, seq, every, "retry")


@quarantine_app.command()
def discard(config: ConfigOption = DEFAULT_CONFIG, seq: SeqOption = None, every: AllOption = False) -> None:
    """Delete quarantined readings for good: they never reach the cloud."""
    _quarantine_action(config, seq, every, "discard")


@app.command()
def pair(
    config: ConfigOption = DEFAULT_CONFIG,
    address: Annotated[str | None, typer.Option("--address", help="Pair this device without asking.")] = None,
    scan_seconds: Annotated[float, typer.Option("--scan-seconds", min=1, max=120)] = 10.0,
    bind_key: Annotated[str | None, typer.Option("--bind-key", help="BTHome bind key (32 hex digits).")] = None,
) -> None:
    """List nearby devices the catalogue knows, pair the chosen one and propose it to the cloud."""
    from common.i18n import translations

    _ = translations("nb").gettext
    settings = _config(config)
    candidates = asyncio.run(_scan(settings, scan_seconds))
    if not candidates:
        fail(_("No known device nearby. Wake the device (take a measurement, press its button) and try again."))
    print(_("Devices nearby that Tryggheim knows (strongest signal first):"))
    for number, found in enumerate(candidates, start=1):
        print(f"  {number}. {found.device.address}  {found.name or '-'}  {found.entry.identity.name} "
              f"[{found.entry.id}]  RSSI {found.rssi}")  # fmt: skip
    if address is None:
        choice = typer.prompt(_("Number of the device to pair"), type=int)
        if not 1 <= choice <= len(candidates):
            fail(_("No device with number {number}.").format(number=choice))
        chosen = candidates[choice - 1]
    else:
        matching = [c for c in candidates if c.device.address.upper() == address.upper()]
        if not matching:
            fail(_("{address} was not seen nearby.").format(address=address))
        chosen = matching[0]
    proposed = asyncio.run(_pair(settings, chosen, bind_key))
    print(_("Paired {address} as {model}.").format(address=chosen.device.address, model=chosen.entry.identity.name))
    print(_("Proposed to the cloud: confirm it for the resident there.") if proposed
          else _("The cloud already knows this device."))  # fmt: skip


async def _scan(settings: GatewayConfig, seconds: float) -> list[Candidate]:
    from edge.pair import scan
    from edge.sources.radio import radio_for

    return await scan(radio_for(settings.ble), seconds)


async def _pair(settings: GatewayConfig, chosen: Candidate, bind_key: str | None) -> bool:
    from edge.agent import open_outbox
    from edge.http import make_client
    from edge.pair import PairingError
    from edge.pair import pair as do_pair
    from edge.sources.radio import radio_for

    outbox = open_outbox(settings)
    try:
        client = make_client(settings.cloud_url, insecure_dev=settings.insecure_dev, ca_file=settings.ca_file,
                             credential=settings.credential(), timeout_s=settings.request_timeout_s)  # fmt: skip
        async with client:
            return await do_pair(chosen, settings, radio_for(settings.ble), outbox, client, bind_key)
    except PairingError as exc:
        fail(str(exc))
    finally:
        outbox.close()
