"""`tryggheim alerts ...`: the detection library from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cloud.db.pool import connect
from common.timefmt import OSLO
from tryggheim.commands import baselines
from tryggheim.commands._startup import fail

if TYPE_CHECKING:
    from alerts.lifecycle import Transition

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Detection: NEWS2, rule replay, baselines and escalations."
)
app.add_typer(baselines.app, name="baselines")


@app.callback()
def alerts() -> None:
    """Detection: NEWS2, rule replay and escalations."""


def _number(name: str, text: str | None) -> float | None:
    # Numbers arrive as text so that every bad value gets the same one-line message and exit status 2.
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        fail(f"--{name}: {text!r} is not a number")


@app.command()
def news2(
    rr: str | None = typer.Option(None, "--rr", help="Respiration rate, breaths/min."),
    spo2: str | None = typer.Option(None, "--spo2", help="Oxygen saturation, %."),
    scale: str = typer.Option("1", "--scale", help="SpO2 scale: 1, or 2 only when a clinician set it."),
    air: bool = typer.Option(False, "--air", help="Breathing room air."),
    oxygen: bool = typer.Option(False, "--oxygen", help="On supplemental oxygen."),
    sbp: str | None = typer.Option(None, "--sbp", help="Systolic blood pressure, mmHg."),
    pulse: str | None = typer.Option(None, "--pulse", help="Pulse, beats/min."),
    consciousness: str | None = typer.Option(None, "--consciousness", help="ACVPU: A, C, V, P or U."),
    temp: str | None = typer.Option(None, "--temp", help="Temperature, °C."),
) -> None:
    """Score NEWS2 (RCP 2017) and print one JSON object; omitted parameters make the score partial."""
    from alerts.news2 import News2Input, score_news2
    from alerts.news2.score import consciousness_of

    if air and oxygen:
        fail("--air and --oxygen: give at most one")
    if scale not in ("1", "2"):
        fail(f"--scale: {scale!r} is not 1 or 2")
    try:
        observed = News2Input(
            rr=_number("rr", rr),
            spo2=_number("spo2", spo2),
            oxygen=True if oxygen else (False if air else None),
            sbp=_number("sbp", sbp),
            pulse=_number("pulse", pulse),
            consciousness=None if consciousness is None else consciousness_of(consciousness),
            temp=_number("temp", temp),
            scale=int(scale),
        )
    except ValueError as exc:
        fail(f"--{exc}")
    typer.echo(json.dumps(score_news2(observed).summary()))


# The events a replay prints: what a nurse would see happen to alerts (repeats and suppressions are stored,
# not printed). A rule's trigger inside a worsening episode is printed as that episode's evidence.
_PRINTED = ("triggered", "severity_changed", "resolved", "evidence_added", "remeasure_requested")


def _replay_line(transition: Transition) -> dict[str, object]:
    import datetime as dt

    from alerts.episodes import EPISODE_RULE

    event = transition.event.value
    if transition.in_episode and event in ("triggered", "severity_changed"):
        event = "evidence"
    line: dict[str, object] = {
        "event": event,
        "rule": transition.rule,
        "class": transition.alert_class,
        "severity": transition.severity.value,
        "at": dt.datetime.fromtimestamp(transition.at, OSLO).isoformat(),
        "message": transition.message,
    }
    members = transition.explanation.get("rules")
    if transition.rule == EPISODE_RULE and isinstance(members, list):
        line["members"] = members
    return line


@app.command()
def replay(
    protocol: str = typer.Option(..., "--protocol", help="Protocol name, e.g. heart_failure or welfare."),
    input_file: str = typer.Option(..., "--input", help="CSV: measured_at,metric,value,unit[,device]."),
    until: str | None = typer.Option(None, "--until", help="Keep the clock running to this ISO-8601 time."),
) -> None:
    """Replay one patient's readings through a protocol; print one JSON line per alert transition."""
    import datetime as dt

    from alerts.protocols import ProtocolError, load_protocol
    from alerts.replay import ReplayInputError, parse_readings_csv
    from alerts.replay import replay as run_replay

    try:
        chosen = load_protocol(protocol)
    except ProtocolError as exc:
        fail(f"--protocol: {exc}")
    try:
        text = Path(input_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--input: cannot read {input_file}: {exc}")
    end: float | None = None
    if until is not None:
        try:
            parsed = dt.datetime.fromisoformat(until)
        except ValueError:
            fail(f"--until: {until!r} is not an ISO-8601 time")
        end = (parsed if parsed.tzinfo else parsed.replace(tzinfo=OSLO)).timestamp()
    try:
        readings = parse_readings_csv(text)
    except ReplayInputError as exc:
        fail(f"--input: {input_file}: {exc}")
    for transition in run_replay(chosen, readings, until=end):
        if transition.event.value in _PRINTED:
            typer.echo(json.dumps(_replay_line(transition), ensure_ascii=False))


@app.command()
def escalations(
    limit: int = typer.Option(200, "--limit", min=1, max=10_000, help="At most this many alerts."),
) -> None:
    """Show what each open alert's escalation does next and why: one JSON line per alert (the database is
    TRYGGHEIM_DATABASE_URL; policy minutes last TRYGGHEIM_ESCALATION_MINUTE_S seconds)."""
    import asyncio
    import time

    from cloud.config import CloudSettings
    from cloud.escalation.engine import plan
    from tryggheim.commands._startup import load_settings, reachable, required

    settings = load_settings(CloudSettings)
    variable = "TRYGGHEIM_DATABASE_URL"
    url = required(settings.database_url, variable, "escalations are read from the service's database")
    reachable(url, variable, settings.db_connect_timeout_s)

    async def read() -> list[dict[str, object]]:
        async with await connect(url) as conn:
            return await plan(conn, time.time(), settings.escalation_minute_s, limit)

    for entry in asyncio.run(read()):
        typer.echo(json.dumps(entry, ensure_ascii=False))


@app.command()
def burden(
    start: str = typer.Option(..., "--from", help="Start of the period, ISO 8601 (a date means 00:00 Oslo time)."),
    end: str = typer.Option(..., "--to", help="End of the period (exclusive), ISO 8601."),
    team: str | None = typer.Option(None, "--team", help="Only this care team (its id)."),
    municipality: str | None = typer.Option(None, "--municipality", help="Only this municipality (its id)."),
) -> None:
    """Print the alarm-burden report over a period as one JSON object (the database is TRYGGHEIM_DATABASE_URL):
    alerts and episodes per day, share acted on, times to acknowledge and resolve, by team, rule and protocol."""
    import asyncio
    from datetime import datetime
    from uuid import UUID

    from cloud.config import CloudSettings
    from cloud.escalation.burden import burden as report
    from tryggheim.commands._startup import load_settings, reachable, required

    def moment(name: str, text: str) -> datetime:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            fail(f"--{name}: {text!r} is not an ISO 8601 date or time")
        return value if value.tzinfo else value.replace(tzinfo=OSLO)

    def ident(name: str, text: str | None) -> UUID | None:
        try:
            return None if text is None else UUID(text)
        except ValueError:
            fail(f"--{name}: {text!r} is not an id")

    since, until = moment("from", start), moment("to", end)
    if not since < until:
        fail("--from must be before --to")
    teams = None if team is None else [ident("team", team)]
    town = ident("municipality", municipality)
    settings = load_settings(CloudSettings)
    variable = "TRYGGHEIM_DATABASE_URL"
    url = required(settings.database_url, variable, "the report is read from the service's database")
    reachable(url, variable, settings.db_connect_timeout_s)

    async def read() -> dict[str, object]:
        async with await connect(url) as conn:
            return await report(conn, town, since, until, teams)  # type: ignore[arg-type]

    typer.echo(json.dumps(asyncio.run(read()), ensure_ascii=False))
