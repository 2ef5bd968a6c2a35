"""`tryggheim alerts baselines ...`: personal baseline proposals through the cloud API (so every call is
checked and audited like the web page's), for a nurse with a bearer token (`tryggheim admin staff-token`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tryggheim.commands._startup import fail

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Personal baseline proposals.")

Url = Annotated[str, typer.Option("--url", envvar="TRYGGHEIM_API_URL", help="The cloud service's base URL.")]
Token = Annotated[str, typer.Option("--token", envvar="TRYGGHEIM_TOKEN", help="A staff bearer token.")]


def _call(method: str, url: str, token: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        response = httpx.request(
            method, url.rstrip("/") + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError as exc:
        fail(f"{url}: {exc}")
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        fail(f"{response.status_code}: {detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)}")
    return response.json()


def _print(items: list[Any] | dict[str, Any]) -> None:
    for item in items if isinstance(items, list) else [items]:
        typer.echo(json.dumps(item, ensure_ascii=False))


@app.command()
def waiting(url: Url = "http://127.0.0.1:8080", token: Token = "") -> None:
    """Proposals waiting for a decision among your patients, one JSON line each."""
    _print(_call("GET", url, token, "/api/v1/baselines/waiting"))


@app.command()
def show(patient: str, url: Url = "http://127.0.0.1:8080", token: Token = "") -> None:
    """A patient's proposals, newest first."""
    _print(_call("GET", url, token, f"/api/v1/patients/{patient}/baselines"))


Reason = Annotated[str, typer.Option("--reason", help="Why (stored with the decision and the overrides).")]
Review = Annotated[str, typer.Option("--review-by", help="Next review date, YYYY-MM-DD (within a year).")]
Proposal = Annotated[int | None, typer.Option("--proposal", help="The proposal id you looked at.")]


def _decision_command(decision: str, help_text: str) -> None:
    """Register the command that sends `decision` on the waiting proposal (approve and reject differ only in it)."""

    def decide(
        patient: str, reason: Reason, review_by: Review, proposal: Proposal = None,
        url: Url = "http://127.0.0.1:8080", token: Token = "",
    ) -> None:  # fmt: skip
        body: dict[str, Any] = {"decision": decision, "reason": reason, "review_by": review_by}
        if proposal is not None:
            body["proposal_id"] = proposal
        _print(_call("POST", url, token, f"/api/v1/patients/{patient}/baselines/decision", body))

    app.command(decision, help=help_text)(decide)


_decision_command("approve", "Approve the waiting proposal: its limits become the patient's rule overrides.")
_decision_command("reject", "Reject the waiting proposal; a new one is made on the review date.")
