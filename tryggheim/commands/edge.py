"""`tryggheim edge ...`: the gateway agent. Imports only the edge extra (httpx), never the cloud stack."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from tryggheim.commands._startup import fail

if TYPE_CHECKING:
    from edge.config import GatewayConfig

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The gateway agent.")
ConfigOption = Annotated[Path, typer.Option("--config", help="The gateway's TOML config file.")]
DEFAULT_CONFIG = Path("/etc/tryggheim/gateway.toml")


@app.callback()
def _group() -> None:
    """The gateway agent."""


def _config(path: Path) -> GatewayConfig:
    from edge.config import load_config

    try:
        return load_config(path)
    except FileNotFoundError:
        fail(f"{path}: no such config file (run `tryggheim edge enrol` first)")
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


@app.command()
def run(config: ConfigOption = DEFAULT_CONFIG, log_level: str = "INFO") -> None:
    """Run the agent until SIGTERM or SIGINT."""
    from edge.agent import run_agent
    from edge.http import InsecureURLError
    from tryggheim.common.logs import configure_logging

    configure_logging(log_level)
    settings = _config(config)
    try:
        asyncio.run(run_agent(settings))
    except InsecureURLError as exc:
        fail(str(exc))


@app.command()
def enrol(
    cloud: Annotated[str, typer.Option("--cloud", help="The cloud's base URL (https://...).")],
    code: Annotated[str, typer.Option("--code", help="The enrolment code from the installer's screen.")],
    config: ConfigOption = DEFAULT_CONFIG,
    insecure_dev: Annotated[bool, typer.Option("--insecure-dev", help="Allow http:// (development only).")] = False,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="Extra CA certificate to trust.")] = None,
) -> None:
    """Exchange an enrolment code for the gateway credential and write the config."""
    from edge.enrol import EnrolmentError
    from edge.enrol import enrol as do_enrol
    from edge.http import InsecureURLError

    try:
        gateway_id = do_enrol(cloud, code, config, insecure_dev=insecure_dev, ca_file=ca_file)
    except (EnrolmentError, InsecureURLError) as exc:
        fail(str(exc))
    print(f"enrolled: gateway {gateway_id}; config written to {config}")


@app.command()
def status(config: ConfigOption = DEFAULT_CONFIG, as_json: bool = typer.Option(False, "--json")) -> None:
    """Outbox depth, last upload, each device's last reading, eviction and error counts."""
    from edge.status import read_status, render

    snapshot = read_status(_config(config).outbox_path)
    print(json.dumps(snapshot) if as_json else render(snapshot), end="\n" if as_json else "")
