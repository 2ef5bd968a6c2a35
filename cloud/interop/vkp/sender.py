"""Posting one journal document to VKP and judging the answer.

VKP takes a document Bundle at `{base}/{orgnr}/Bundle`, with the municipality's organisation number in the path
and the `ServiceCodes` header naming the service it belongs to (the pattern of Norsk helsenett's VKP samples),
and answers a refusal with 400 and an OperationOutcome. Every outcome comes back as a `Sent` whose `detail` is
a sentence fit for the worklist's "journaling failed: <reason>" (never a token or key); nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cloud.interop.helseid import InteropError, MachineClient

FHIR_JSON = "application/fhir+json"
_SHOWN = 300  # characters of an unreadable answer kept in the reason


@dataclass(frozen=True)
class Sent:
    """What one attempt came to."""

    ok: bool
    status: int | None
    detail: str
    receipt: dict[str, Any] | None = None


def bundle_url(base_url: str, orgnr: str) -> str:
    """Where a municipality's documents go."""
    return f"{base_url.rstrip('/')}/{orgnr}/Bundle"


def _outcome_text(answer: Any) -> str | None:
    """The diagnostics of an OperationOutcome, joined; None when the answer is not one."""
    if not isinstance(answer, dict) or answer.get("resourceType") != "OperationOutcome":
        return None
    said = []
    for issue in answer.get("issue") or []:
        if isinstance(issue, dict):
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
            if text:
                said.append(str(text))
    return "; ".join(said) or "no diagnostics given"


def _body(response: httpx.Response) -> tuple[Any, bool]:
    """The answer's JSON and whether it was JSON (an empty body counts as none, not as garbage)."""
    if not response.content:
        return None, True
    try:
        return response.json(), True
    except ValueError:
        return None, False


def judge(response: httpx.Response) -> Sent:
    """What VKP's answer means."""
    status = response.status_code
    answer, readable = _body(response)
    snippet = response.text[:_SHOWN].strip()
    if 200 <= status < 300 and not readable:
        # We cannot tell whether VKP stored it: sending again is safe (the document's identifier is stable, so
        # VKP can tell a repeat), losing it is not.
        return Sent(False, status, f"VKP answered {status}, but its answer is not JSON: {snippet!r}; sent again")
    if 200 <= status < 300:
        receipt: dict[str, Any] = {"status": status, "location": response.headers.get("location")}
        if isinstance(answer, dict):
            receipt["id"] = answer.get("id")
        return Sent(True, status, "journaled", receipt)
    outcome = _outcome_text(answer)
    if status == 400:
        if outcome is not None:
            return Sent(False, status, f"VKP refused the document: {outcome}")
        what = "not JSON" if not readable else "not an OperationOutcome"
        return Sent(False, status, f"VKP refused the document (400) and its answer is {what}: {snippet!r}")
    if status >= 500:
        return Sent(False, status, f"VKP is unavailable ({status})")
    return Sent(False, status, f"VKP answered {status}: {outcome or snippet or 'no reason given'}")


async def post_document(
    client: MachineClient, *, base_url: str, orgnr: str | None, service_code: str, document: dict[str, Any]
) -> Sent:
    """Post `document` for the municipality `orgnr` and judge the answer."""
    if not orgnr:
        return Sent(False, None, "the municipality has no organisation number, which VKP needs in the address")
    try:
        response = await client.request(
            "POST",
            bundle_url(base_url, orgnr),
            json=document,
            headers={"ServiceCodes": service_code, "Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
        )
    except InteropError as failed:
        return Sent(False, None, str(failed))
    except httpx.HTTPError as failed:
        return Sent(False, None, f"VKP cannot be reached ({type(failed).__name__})")
    return judge(response)
