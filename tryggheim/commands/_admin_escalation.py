"""`tryggheim admin escalation ...`: a municipality's escalation policy and where its roles are reached.

Every change is audited like the registry commands (principal `system`, the operating-system user). Output is
one JSON object per line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
import typer
import yaml

from cloud.access import directory
from cloud.config import CloudSettings
from cloud.escalation import configuration
from cloud.notify.sealing import SecretBox
from cloud.registry import OPERATOR
from tryggheim.commands._admin_registry import Municipality, audited
from tryggheim.commands._startup import load_settings

escalation_app = typer.Typer(no_args_is_help=True, help="Escalation policy and notification endpoints.")
Run = Callable[[Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]], Any]


def _read_document(source: str) -> Any:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read it: {exc}", param_hint="FILE") from None
    try:
        return yaml.safe_load(text)  # YAML, and so JSON too
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"not YAML or JSON: {str(exc).splitlines()[0]}", param_hint="FILE") from None


def register(run: Run) -> list[tuple[typer.Typer, str]]:
    """The `escalation` sub-command group, with `run` executing a unit of work on the service's database."""
    _policy_commands(run)
    _endpoint_commands(run)
    return [(escalation_app, "escalation")]


def _policy_commands(run: Run) -> None:
    @escalation_app.command("show")
    def show(municipality: Municipality) -> None:
        """The policy document new alerts follow, whether it is the municipality's own or the default, and the
        roles it sends to that have no endpoint (`unreached`: those steps would fail and dead-letter)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, bool, list[str]]:
            mid = await directory.municipality_id(conn, municipality)
            document, own = await configuration.policy_in_effect(conn, mid)
            return document, own, configuration.unreached(document, await configuration.list_endpoints(conn, mid))

        document, own, unreached = run(work)
        print(json.dumps({"source": "municipality" if own else "default", "unreached": unreached,
                          **document.model_dump(mode="json")}))  # fmt: skip

    @escalation_app.command("set-policy")
    def set_policy(
        source: Annotated[str, typer.Argument(metavar="FILE", help="Policy document (YAML or JSON); - for stdin.")],
        municipality: Municipality,
    ) -> None:
        """Validate and store the municipality's policy; alerts opened from now on follow it."""
        document = _read_document(source)

        async def work(conn: psycopg.AsyncConnection[Any]) -> Any:
            mid = await directory.municipality_id(conn, municipality)
            async with conn.transaction():
                await audited(conn, mid, "escalation.set-policy", None)
                return await configuration.set_policy(conn, mid, document, OPERATOR)

        parsed = run(work)
        print(json.dumps({"source": "municipality", "policies": [p.name for p in parsed.policies]}))

    @escalation_app.command("reset-policy")
    def reset_policy(municipality: Municipality) -> None:
        """Drop the municipality's own policy; the shipped default applies to alerts opened from now on."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> bool:
            mid = await directory.municipality_id(conn, municipality)
            async with conn.transaction():
                await audited(conn, mid, "escalation.reset-policy", None)
                return await configuration.reset_policy(conn, mid)

        print(json.dumps({"source": "default", "removed": run(work)}))


def _endpoint_commands(run: Run) -> None:
    @escalation_app.command("endpoints")
    def endpoints(municipality: Municipality) -> None:
        """Where each role is reached (secrets are never shown)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[configuration.Endpoint]:
            return await configuration.list_endpoints(conn, await directory.municipality_id(conn, municipality))

        for endpoint in run(work):
            print(json.dumps(asdict(endpoint), ensure_ascii=False))

    @escalation_app.command("set-endpoint")
    def set_endpoint(
        target: Annotated[str, typer.Argument(help="Role name the policy uses, e.g. team_lead.")],
        municipality: Municipality,
        email: Annotated[str | None, typer.Option(help="E-mail address of the role.")] = None,
        webhook: Annotated[str | None, typer.Option(help="https URL that receives signed alerts.")] = None,
        sms: Annotated[str | None, typer.Option(help="Phone number (+47...) reached through an SMS gateway.")] = None,
        sms_gateway: Annotated[
            Path | None, typer.Option(help="JSON file with the SMS gateway's options (url, format, fields, ...).")
        ] = None,
        secret_stdin: Annotated[
            bool, typer.Option(help="Read the webhook's or SMS gateway's signing secret from stdin (default: new).")
        ] = False,
    ) -> None:
        """Set where a role is reached by e-mail, webhook or SMS; prints a new signing secret once for a webhook
        or an SMS gateway's receipts (stored sealed when TRYGGHEIM_SECRETS_KEY is set)."""
        given = {"email": email, "webhook": webhook, "sms": sms}
        if sum(value is not None for value in given.values()) != 1:
            raise typer.BadParameter("give exactly one of --email, --webhook and --sms")
        channel: Literal["email", "webhook", "sms"] = "email" if email else "webhook" if webhook else "sms"
        if (channel == "sms") != (sms_gateway is not None):
            raise typer.BadParameter("--sms-gateway goes with --sms, and --sms needs it", param_hint="--sms-gateway")
        options = json.loads(sms_gateway.read_text(encoding="utf-8")) if sms_gateway is not None else None
        secret = sys.stdin.readline().rstrip("\n") if secret_stdin else None

        key = load_settings(CloudSettings).secrets_key
        box = SecretBox(key.get_secret_value() if key else None)

        async def work(conn: psycopg.AsyncConnection[Any]) -> str | None:
            mid = await directory.municipality_id(conn, municipality)
            async with conn.transaction():
                await audited(conn, mid, "escalation.set-endpoint", None)
                return await configuration.set_endpoint(
                    conn,
                    mid,
                    target=target,
                    channel=channel,
                    address=given[channel] or "",
                    secret=secret,
                    box=box,
                    options=options,
                )

        stored = run(work)
        shown = {"secret": stored} if channel != "email" and not secret_stdin else {}
        print(json.dumps({"target": target, "channel": channel, "address": given[channel], **shown}))

    @escalation_app.command("remove-endpoint")
    def remove_endpoint(
        target: str,
        municipality: Municipality,
        channel: Annotated[str, typer.Option(help="email, webhook or sms.")],
    ) -> None:
        """Remove where a role is reached on one channel (steps to it then fail and dead-letter)."""
        if channel not in {"email", "webhook", "sms"}:
            raise typer.BadParameter("email, webhook or sms", param_hint="--channel")

        async def work(conn: psycopg.AsyncConnection[Any]) -> bool:
            mid = await directory.municipality_id(conn, municipality)
            async with conn.transaction():
                await audited(conn, mid, "escalation.remove-endpoint", None)
                return await configuration.remove_endpoint(conn, mid, target, channel)  # type: ignore[arg-type]

        print(json.dumps({"target": target, "channel": channel, "removed": run(work)}))
