"""The `tryggheim` command. Command groups are imported only when used, so `tryggheim edge ...` runs
on a gateway that has only the `edge` extra installed (no FastAPI, psycopg or numpy); a group whose
extra is not installed is left out of the listing.

A group is listed here only once it has a working command.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

import common

# name -> (module holding a typer app called `app`, one-line help)
GROUPS: dict[str, tuple[str, str]] = {
    "demo": ("tryggheim.commands.demo", "Run everything on one machine with simulated homes."),
    "cloud": ("tryggheim.commands.cloud", "The cloud service."),
    "db": ("tryggheim.commands.db", "Database schema: upgrade and status."),
    "admin": ("tryggheim.commands.admin", "Administration: municipalities, teams, staff, audit."),
    "alerts": ("tryggheim.commands.alerts", "Detection: NEWS2, rule replay and escalations."),
    "profiles": ("tryggheim.commands.profiles", "Device profiles: decode payloads."),
    "bench": ("tryggheim.commands.bench", "Benchmarks, one JSON line each."),
    "edge": ("tryggheim.commands.edge", "The gateway agent."),
}


class LazyGroup(TyperGroup):
    """The root group: sub-commands are typer apps imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(name for name in GROUPS if self.get_command(ctx, name) is not None)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in GROUPS:
            return None
        module_name, help_text = GROUPS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in {
                "tryggheim",
                "cloud",
                "edge",
                "alerts",
                "device_profiles",
            }:
                raise
            return None  # the extra this group needs is not installed here
        command = typer.main.get_command(module.app)
        command.name = cmd_name
        command.help = command.help or help_text
        return command


app = typer.Typer(
    cls=LazyGroup,
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Tryggheim: remote patient monitoring and welfare technology for Norwegian municipalities.",
)


def _version(value: bool) -> None:
    if value:
        print(f"tryggheim {common.VERSION}")
        raise typer.Exit


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Tryggheim: remote patient monitoring and welfare technology for Norwegian municipalities."""


def main() -> None:
    """Console-script entry point."""
    app(prog_name="tryggheim")
