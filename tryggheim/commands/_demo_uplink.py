"""`tryggheim demo uplink --home <home> down|up`: cut or restore one demo home's uplink while the demo runs;
`tryggheim demo press --home <home>`: press the bedside alarm button of the demo's radio home (Berit's).

The home's agent reaches the cloud through the demo's uplink relay (tryggheim/demo/uplink_relay.py), which
refuses the home's connections while a flag file lies in the home's state directory; this command writes or
removes that file. With the uplink down, an alarm pressed in the home is raised by the gateway's local alarm
path (a siren, an SMS) after its overdue time, and reaches the cloud with that history when the uplink is up.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from paho.mqtt import publish

from tryggheim.demo import console, radio
from tryggheim.demo.uplink_relay import set_uplink, uplink_is_up


class Switch(StrEnum):
    """The uplink's two states."""

    down = "down"
    up = "up"


def home_dir(state_dir: Path, home: str) -> Path | None:
    """The demo home's state directory from its directory name (`home-3`) or its number (`3`); None when
    there is no such home."""
    found = state_dir / "edge" / (home if home.startswith("home-") else f"home-{home}")
    return found if (found / "gateway.toml").exists() else None


def register(app: typer.Typer) -> None:
    """Add `uplink` to the demo group."""

    @app.command("uplink")
    def uplink(
        switch: Annotated[Switch, typer.Argument(help="down: cut the home's uplink; up: restore it.")],
        home: Annotated[str, typer.Option("--home", help="The demo home: home-<number> or its number.")],
        state_dir: Annotated[
            Path, typer.Option(envvar="TRYGGHEIM_STATE_DIR", help="Where the demo keeps its database.")
        ] = Path(".state/demo"),
    ) -> None:
        """Cut or restore one demo home's uplink (its agent's connection to the cloud) while the demo runs."""
        _ = console.gettext  # the running demo's language (TRYGGHEIM_LANG)
        found = home_dir(state_dir, home)
        if found is None:
            homes = sorted(p.name for p in (state_dir / "edge").glob("home-*") if (p / "gateway.toml").exists())
            print(_("No demo home {home}; the homes are: {homes}").format(home=home, homes=", ".join(homes) or "-"))
            raise typer.Exit(2)
        set_uplink(found, switch is Switch.up)
        if uplink_is_up(found):
            print(_("The uplink of {home} is up again: its agent delivers what waited.").format(home=found.name))
        else:
            print(_("The uplink of {home} is down: an alarm there is raised locally after its overdue time.").format(
                home=found.name))  # fmt: skip

    @app.command("press")
    def press(
        home: Annotated[str, typer.Option("--home", help="The demo home: home-<number> or its number.")],
        state_dir: Annotated[
            Path, typer.Option(envvar="TRYGGHEIM_STATE_DIR", help="Where the demo keeps its database.")
        ] = Path(".state/demo"),
    ) -> None:
        """Press the bedside alarm button (a Zigbee2MQTT button on the home's broker) of a running demo home."""
        _ = console.gettext  # the running demo's language (TRYGGHEIM_LANG)
        found = home_dir(state_dir, home)
        port = radio.broker_port(found) if found is not None else None
        if found is None or port is None:
            print(_("No demo home {home} with a local broker is running").format(home=home))
            raise typer.Exit(2)
        seed = int(found.name.removeprefix("home-"))
        topic = f"zigbee2mqtt/{radio.button_name(seed)}"
        body = json.dumps({"action": "single", "battery": 91, "linkquality": 120})
        try:
            publish.single(topic, body, qos=1, hostname="127.0.0.1", port=port)
        except OSError as exc:
            print(_("The home's broker did not take the press: {error}").format(error=exc))
            raise typer.Exit(1) from None
        print(_("The alarm button in {home} was pressed.").format(home=found.name))
